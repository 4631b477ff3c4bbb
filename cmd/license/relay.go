package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/relay"
)

const envRelayKey = "LICENSE_RELAY_KEY"

// maxRelayBody bounds one admission request to the relay: a request with a
// ring of 1024 members is about 60 KiB of JSON.
const maxRelayBody = 128 << 10

func runRelay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var listen, network, keyFile string
	var period time.Duration
	var pow, ringMin, ringMax int
	var memory bool
	fs, err := parseVerbFlags("license relay", "--server URL --ledger-key KEY --network NAME [--listen ADDR]", `
Run a relay's admission: verify ring proofs on this machine against a
mirror of the ledger (synced from the server's tiles under its signed
checkpoints, with the suspension feed), and register every admitted tag
with the server's tag registry, so that each license keeps one daily quota
across the whole network. The server verifies nothing on the honest path.

It serves POST /admit (the JSON of the server's POST /v1/admit; 200
{"admitted": true, ...}, 409 tag_used, 429 or 503 with Retry-After when
the server's registry asks to slow down or to try again, 400 for other
refusals, 502 when the server cannot be reached) and GET /healthz ({"ledger_size": N, "suspensions_size": M}: what
the mirror last synced). The relay key comes from --relay-key-file or
`+envRelayKey+`; it is never printed. --memory keeps tags in this process
instead (no key needed, but a license then gets its quota once per relay).
It prints "listening on http://ADDR" once ready, and runs until
interrupted.`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve on")
		fs.StringVar(&network, "network", "", "the network's name, the first part of every scope (required)")
		fs.StringVar(&keyFile, "relay-key-file", "", "file holding the relay key (default: env "+envRelayKey+")")
		fs.DurationVar(&period, "sync", 30*time.Second, "how often to sync the mirror (ledger and suspensions)")
		fs.IntVar(&pow, "pow-difficulty", 0, "leading zero bits of proof of work every request must carry")
		fs.IntVar(&ringMin, "ring-min", 0, "smallest ring accepted (default 16)")
		fs.IntVar(&ringMax, "ring-max", 0, "largest ring accepted (default 16)")
		fs.BoolVar(&memory, "memory", false, "keep tags in memory, per relay process, instead of the server's registry")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("license relay takes no arguments: " + strings.Join(fs.Args(), " "))
	}
	if network == "" {
		return usageError("give the network's name with --network (the server's --network).")
	}
	if g.ledgerKey == "" {
		return usageError("give the ledger's verifier key with --ledger-key (or " + envLicenseLedgerKey + "): the relay checks every checkpoint against it.")
	}
	key := os.Getenv(envRelayKey)
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return sayf("couldn't read the relay key file %s (%s).", keyFile, rootCause(err))
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" && !memory {
		return usageError("registering tags needs a relay key: give --relay-key-file or set " + envRelayKey + " (the operator makes one with 'licensed relay-key new'), or run with --memory.")
	}
	c := &relay.Client{URL: g.server, Key: key}
	m, err := relay.NewMirror(c, g.ledgerKey)
	if err != nil {
		return usageError(err.Error())
	}
	if err := m.Sync(ctx); err != nil {
		return sayf("couldn't sync the ledger from %s (%s).", g.server, rootCause(err))
	}
	quotas, err := c.Quotas(ctx)
	if err != nil {
		return sayf("couldn't read the plans' quotas from %s (%s).", g.server, rootCause(err))
	}
	cfg := admission.Config{Network: network, Quota: relay.QuotaFunc(quotas), PoWDifficulty: pow, MinRingSize: ringMin, MaxRingSize: ringMax}
	var local *relay.Local
	if memory {
		local, err = relay.NewLocal(m, cfg)
	} else {
		local, err = relay.NewNetworkLocal(m, cfg)
	}
	if err != nil {
		return usageError(err.Error())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	go m.Follow(ctx, period, log)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /admit", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRelayBody))
		if err != nil {
			writeRelayJSON(w, http.StatusRequestEntityTooLarge, admission.Result{Code: "too_large", Message: fmt.Sprintf("a request is at most %d bytes", maxRelayBody)})
			return
		}
		req, err := admission.DecodeRequest(body)
		if err == nil {
			var res *admission.Result
			if res, err = local.Admit(r.Context(), req); err == nil {
				writeRelayJSON(w, http.StatusOK, res)
				return
			}
		}
		var re *relay.Error
		switch code := admission.Code(err); {
		case code == "tag_used":
			writeRelayJSON(w, http.StatusConflict, admission.Result{Code: code, Message: err.Error()})
		case code == "rate_limited" || code == "too_many_in_flight" || code == "batch_over_limit":
			w.Header().Set("Retry-After", "1")
			writeRelayJSON(w, http.StatusTooManyRequests, admission.Result{Code: code, Message: err.Error()})
		case code == "overloaded" || code == "index_behind":
			w.Header().Set("Retry-After", "1")
			writeRelayJSON(w, http.StatusServiceUnavailable, admission.Result{Code: code, Message: err.Error()})
		case code != "":
			writeRelayJSON(w, http.StatusBadRequest, admission.Result{Code: code, Message: err.Error()})
		case errors.As(err, &re):
			writeRelayJSON(w, http.StatusBadGateway, admission.Result{Code: "registry_" + re.Code, Message: "the license server refused the registration: " + re.Message})
		default:
			log.Warn("relay: admission failed", "err", err)
			writeRelayJSON(w, http.StatusBadGateway, admission.Result{Code: "registry_unreachable", Message: "couldn't reach the license server's tag registry; try again"})
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		feed, _ := m.Suspensions()
		writeRelayJSON(w, http.StatusOK, map[string]any{"ledger_size": m.Checkpoint().Size, "suspensions_size": feed})
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return sayf("couldn't listen on %s (%s).", listen, rootCause(err))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", l.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-done:
		return sayf("the relay stopped serving (%s).", rootCause(err))
	}
}

func writeRelayJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
