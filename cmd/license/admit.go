package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/licensed/licensed/ringverify"
)

// admitAnswer is the answer of POST /v1/admit to an admitted proof.
type admitAnswer struct {
	Admitted   bool   `json:"admitted"`
	Plan       string `json:"plan"`
	ValidUntil string `json:"valid_until"`
}

func runAdmit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	fs, err := parseVerbFlags("license admit", "[--server URL] PROOF.json", `
Send a proof made by 'license prove' to the server's admission endpoint
(POST /v1/admit), as a relay would, and print the server's JSON answer.
The exit status is 0 if the proof was admitted and 1 if it was refused, with
the server's reason on standard error. PROOF.json may be - for standard input.
Flags may come before or after PROOF.json; only --server is used.`, args, stderr, g.define)
	if err != nil {
		return err
	}
	files, err := interspersed(fs)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError("give one proof file (or - for standard input).")
	}
	name := files[0]
	var body []byte
	if name == "-" {
		body, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		body, err = os.ReadFile(name)
	}
	if err != nil {
		return sayf("couldn't read the proof %s (%s).", name, rootCause(err))
	}
	req, err := decodeProofFile(body)
	if err != nil {
		return sayf("%s is not a proof made by 'license prove' (%v).", name, err)
	}
	// Send what 'license prove' made, re-encoded canonically.
	body, _ = json.Marshal(req)
	api, err := newAPIClient(g.server)
	if err != nil {
		return err
	}
	answer, err := api.do(ctx, http.MethodPost, "/v1/admit", body, 1<<16)
	var r *refusal
	if errors.As(err, &r) {
		if js, _ := json.Marshal(r); len(js) > 0 && r.Code != "" {
			fmt.Fprintf(stdout, "%s\n", js)
		}
		return sayf("the proof was refused: %s", refusalSentence(r))
	}
	if err != nil {
		return err
	}
	var a admitAnswer
	if err := json.Unmarshal(answer, &a); err != nil || !a.Admitted {
		return sayf("the server's answer to the proof is not an admission.")
	}
	fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(answer))
	return nil
}

// interspersed returns the arguments left after fs parsed its flags,
// parsing the flags that follow each of them too ("PROOF.json --server URL"),
// as every verb takes its flags before or after its arguments. After "--"
// everything is an argument.
func interspersed(fs *flag.FlagSet) ([]string, error) {
	var out []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		out = append(out, rest[0])
		if rest[0] == "--" {
			return append(out[:len(out)-1], rest[1:]...), nil
		}
		if err := fs.Parse(rest[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError(err.Error())
		}
	}
	return out, nil
}

// refusalSentence is the server's reason for a refusal, as the end of a
// sentence: its message and its code.
func refusalSentence(r *refusal) string {
	msg := strings.TrimSpace(r.Message)
	if msg == "" {
		msg = http.StatusText(r.Status)
	}
	msg = strings.TrimRight(msg, ". ")
	if r.Code == "" {
		return fmt.Sprintf("%s (HTTP %d).", msg, r.Status)
	}
	return fmt.Sprintf("%s (%s).", msg, r.Code)
}

// decodeProofFile decodes a proof file written by 'license prove': one JSON
// object of the admission request's shape, nothing after it. It checks the
// shape only (what the server would refuse as malformed); the server checks
// the rest.
func decodeProofFile(b []byte) (*admitRequest, error) {
	var req admitRequest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		return nil, errors.New("it is not JSON of the admission request's shape")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("it has data after the proof")
	}
	switch {
	case req.Scope == "" || len(req.Scope) > ringverify.MaxScopeSize:
		return nil, errors.New("its scope is missing or too long")
	case len(req.Message) == 0 || len(req.Message) > maxMessage:
		return nil, errors.New("its message is missing or longer than 1024 bytes")
	case len(req.Ring) == 0 && req.PoW == nil:
		return nil, errors.New("it has neither a ring nor a proof of work")
	case len(req.Ring) > ringverify.MaxRingSize:
		return nil, errors.New("its ring is too large")
	case len(req.Ring) > 0 && (len(req.Tag) != ringverify.ElementSize || len(req.Signature) != ringverify.ProofSize(len(req.Ring))-ringverify.ElementSize):
		return nil, errors.New("its tag or signature has the wrong length for its ring")
	case req.PoW != nil && len(req.PoW.Nonce) != 8:
		return nil, errors.New("its proof of work nonce is not 8 bytes")
	}
	return &req, nil
}
