// Package relay is the Go client of the license server for relays. A relay
// either asks the server to admit each data block (Client.Admit,
// Client.AdmitBatch), or verifies proofs itself (Local) against a Mirror of
// the ledger, which it keeps in sync from the server's C2SP tiles under a
// checkpoint it audits with package ledger/tlogclient (signed by the pinned
// ledger key, and consistent with every checkpoint the mirror saw before),
// and from the server's signed suspension feed, registering the tags it
// admits with the server's tag registry (NewNetworkLocal).
// The mirror is a ledger.Index, the server's own index type, filled from
// the public tiles. Verifying locally needs no call to the server per block,
// and tells the server nothing about the relay's traffic.
//
//	c := &relay.Client{URL: "https://licenses.example", Key: os.Getenv("RELAY_KEY")}
//	res, err := c.Admit(ctx, req)               // ask the server
//
//	m, _ := relay.NewMirror(c, verifierKey)     // or verify locally
//	_ = m.Sync(ctx)                             // then keep it current:
//	go m.Follow(ctx, time.Minute, logger)
//	quotas, _ := c.Quotas(ctx)
//	local, _ := relay.NewNetworkLocal(m, admission.Config{Network: "main", Quota: relay.QuotaFunc(quotas)})
//	res, err = local.Admit(ctx, req)            // verified here, the tag registered network-wide
//
// # Relay keys
//
// The server limits admission by cost, one token per proof. Anonymous
// callers get strict limits (by default 200 proofs/s, a burst of 400, and
// at most 4 proofs in flight, so batches of at most 4). A relay that asks
// the server for more gets a relay key from the server's operator
// (licensed relay-key new NAME prints it once) and sets Client.Key: the
// Client then sends it as "Authorization: Bearer <key>" with every
// admission, and the server applies that key's limits. A key the server
// does not know is refused (401 relay_key_invalid), never served as
// anonymous. Refusals for load carry Error.RetryAfter: 429 rate_limited
// (out of tokens), too_many_in_flight, batch_over_limit (split the batch),
// and 503 overloaded (the server as a whole is full).
//
// # What a local relay sees
//
// A Local relay runs exactly the checks of package ledger/admission, in the
// same order, against what its Mirror last synced: the ledger's licenses
// and revocations, and the server's suspension feed (an open card dispute
// or a Bitcoin payment a reorg took back suspends a license; the feed is
// signed by the ledger's key and append-only, see package ledger). So it
// refuses a ring with a suspended member (member_suspended), and its Valid
// list leaves suspended licenses out, as the server's does, from the first
// Sync after the server's sequencer published the suspension (about a
// second after the dispute or the reorg was recorded). Between two Syncs it
// is only as current as the last: a license minted, revoked, suspended or
// lifted since is not seen yet; Follow's period bounds that.
//
// Tags: NewLocal keeps them in this relay process's memory, lost at restart
// and not shared with other relays, so a license gets its daily quota once
// per relay. NewNetworkLocal (RegistryTags) registers every admitted tag
// with the server's tag registry instead, which keeps one quota across the
// whole network: the first registration of a tag wins everywhere.
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/licensed/licensed/ledger/admission"
)

// Client calls the license server's public API.
type Client struct {
	// URL is the server's base URL, e.g. "https://licenses.example".
	URL string
	// HTTP is the client used (default: one with a 30 s timeout).
	HTTP *http.Client
	// Key is the relay's key ("lrk_…"), sent with every admission request
	// as "Authorization: Bearer Key"; empty: the anonymous limits apply.
	// It is a secret: keep it out of logs.
	Key string
}

// Error is a refusal or a failure answered by the server: its HTTP status
// and its {code, message}.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the server's Retry-After (429, 503), 0 if it sent
	// none.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("relay: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// do sends a request and decodes a 200 answer into out; any other answer is
// an *Error.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	return c.send(ctx, method, path, false, body, out)
}

// send is do, with the relay key when withKey.
func (c *Client) send(ctx context.Context, method, path string, withKey bool, body any, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case json.RawMessage: // encoded already (RegistryTags): not again
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withKey && c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("relay: couldn't read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), http.StatusText(resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("relay: couldn't decode the answer of %s: %w", path, err)
	}
	return nil
}

// Admit asks the server to admit one proof, with the relay's key if set. A
// refusal is an *Error whose Code is the admission code (tag_used is status
// 409, rate_limited 429, relay_key_invalid 401).
func (c *Client) Admit(ctx context.Context, r *admission.Request) (*admission.Result, error) {
	var res admission.Result
	if err := c.send(ctx, http.MethodPost, "/v1/admit", true, r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// AdmitBatch asks the server to decide up to admission.MaxBatch proofs at
// once, with the relay's key if set; it returns one result per proof, in
// order. The batch costs one token per proof; one larger than the key's
// burst or in-flight bound is refused whole (batch_over_limit).
func (c *Client) AdmitBatch(ctx context.Context, rs []*admission.Request) ([]admission.Result, error) {
	var out admission.BatchResults
	if err := c.send(ctx, http.MethodPost, "/v1/admit/batch", true, map[string]any{"proofs": rs}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(rs) {
		return nil, fmt.Errorf("relay: %d results for %d proofs", len(out.Results), len(rs))
	}
	return out.Results, nil
}

// ValidList is the answer of GET /v1/licenses/valid.
type ValidList struct {
	Plan    string   `json:"plan"`
	At      string   `json:"at"`
	Indices []uint64 `json:"indices"`
}

// Valid returns the server's list of valid licenses of plan, from which
// clients pick decoys.
func (c *Client) Valid(ctx context.Context, plan string) (*ValidList, error) {
	var v ValidList
	if err := c.do(ctx, http.MethodGet, "/v1/licenses/valid?plan="+url.QueryEscape(plan), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Quotas returns the daily quota of every plan the server offers (GET
// /v1/plans).
func (c *Client) Quotas(ctx context.Context) (map[string]uint32, error) {
	var out struct {
		Plans []struct {
			ID         string `json:"id"`
			DailyQuota uint32 `json:"daily_quota"`
		} `json:"plans"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/plans", nil, &out); err != nil {
		return nil, err
	}
	q := make(map[string]uint32, len(out.Plans))
	for _, p := range out.Plans {
		q[p.ID] = p.DailyQuota
	}
	return q, nil
}
