package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ledger/poll/pgpoll"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/ringverify"
)

func pollSecret(i uint64) *ristretto255.Scalar {
	return ringverify.HashToScalar("test", binary.BigEndian.AppendUint64(nil, i))
}

// testPollStore returns a poll store on a fresh database whose ledger holds
// 20 pro licenses, valid for 30 days from opens's day, of the keys
// pollSecret(0…19).
func testPollStore(t *testing.T, opens time.Time) (*pgxpool.Pool, *pgpoll.Store) {
	t.Helper()
	db := pgtest.Pool(t)
	day := opens.Truncate(24 * time.Hour)
	ix := ledger.NewIndex()
	var entries [][]byte
	for i := range uint64(20) {
		e := &ledger.LicenseEntry{Plan: "pro", NotBefore: day, NotAfter: day.AddDate(0, 0, 30), ViewTag: 1, Sealed: []byte("s")}
		copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(pollSecret(i)).Bytes())
		b, _ := e.MarshalBinary()
		entries = append(entries, b)
	}
	if err := ix.Append(0, entries); err != nil {
		t.Fatal(err)
	}
	skey, _, _ := note.GenerateKey(rand.Reader, "example.test/ledger")
	signer, _ := note.NewSigner(skey)
	store, err := pgpoll.New(db, signer, ix)
	if err != nil {
		t.Fatal(err)
	}
	return db, store
}

// TestPolls runs the polls' API and page on a real store: 16 licenses vote,
// a double vote is refused with 409, a ballot after the close with 403,
// an oversized or malformed body with a 4xx and a code; the tally is hidden
// until the close when the poll says so; the page lists open polls.
func TestPolls(t *testing.T) {
	ctx := context.Background()
	opens := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db, store := testPollStore(t, opens)
	var now atomic.Int64
	now.Store(opens.Add(time.Hour).Unix())
	deps := Deps{DB: db, Polls: &PollDeps{Store: store, Now: func() time.Time { return time.Unix(now.Load(), 0) }},
		Payments: paytest.NewService(t, db, paytest.NewCard(t, payments.CardConfig{})), Pages: &Pages{}}
	ts := httptest.NewServer(New(Config{}, deps, slog.New(slog.DiscardHandler)).Handler())
	defer ts.Close()

	hidden := &poll.Poll{ID: "hidden", Question: "Hidden until the close?", Options: []string{"yes", "no"}, Plans: []string{"pro"},
		Opens: opens, Closes: opens.Add(24 * time.Hour), HiddenTally: true, Electorate: 20, MinRing: 11}
	st, err := store.Create(ctx, hidden)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, &poll.Poll{ID: "later", Question: "Next year?", Options: []string{"a", "b"}, Plans: []string{"pro"},
		Opens: opens.AddDate(1, 0, 0), Closes: opens.AddDate(1, 0, 1), Electorate: 20, MinRing: 11}); err != nil {
		t.Fatal(err)
	}
	ring := make([]uint64, 20)
	keys := make([]*ristretto255.Element, 20)
	for i := range ring {
		ring[i] = uint64(i)
		keys[i] = ristretto255.NewIdentityElement().ScalarBaseMult(pollSecret(uint64(i)))
	}
	ballot := func(voter, option int) []byte {
		p, err := ringverify.Sign(rand.Reader, pollSecret(uint64(voter)), keys, voter, hidden.Scope(), 0, poll.Message(st.Hash, option))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(poll.NewRequest(option, ring, p))
		return js
	}
	post := func(body []byte) (int, string) {
		res, err := http.Post(ts.URL+"/v1/polls/hidden/ballots", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e struct{ Code string }
		b, _ := io.ReadAll(res.Body)
		json.Unmarshal(b, &e)
		return res.StatusCode, e.Code
	}
	get := func(path string, v any) string {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
		return string(b)
	}
	for v := range 16 {
		if status, code := post(ballot(v, v%2)); status != http.StatusCreated {
			t.Fatalf("voter %d: %d %s", v, status, code)
		}
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"double vote", ballot(3, 1), 409, "already_voted"},
		{"not JSON", []byte("nope"), 400, "malformed"},
		{"unknown field", []byte(`{"option":0,"ring":[1],"tag":"","signature":"","x":1}`), 400, "malformed"},
		{"too large", bytes.Repeat([]byte(" "), poll.MaxRequestSize+1), 413, "body_too_large"},
		{"bad option", ballot(16, 7), 400, "bad_option"},
	} {
		if status, code := post(tc.body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	var v poll.View
	get("/v1/polls/hidden", &v)
	if v.State != "open" || v.Ballots != 16 || v.Counts != nil {
		t.Fatalf("open hidden poll: state %s, %d ballots, counts %v", v.State, v.Ballots, v.Counts)
	}
	var pg poll.Page
	get("/v1/polls/hidden/ballots", &pg)
	if len(pg.Ballots) != 17 || pg.Ballots[1].Leaf != nil || pg.Ballots[0].Leaf == nil {
		t.Fatalf("hidden page: %d leaves, ballot leaf %x", len(pg.Ballots), pg.Ballots[1].Leaf)
	}
	page := get("/polls", nil)
	open, _, _ := strings.Cut(page[strings.Index(page, `id="open-polls"`):], "</table>")
	if !strings.Contains(open, "Hidden until the close?") || strings.Contains(open, "Next year?") || !strings.Contains(open, "open") {
		t.Fatalf("the page's open polls: %s", open)
	}
	if !strings.Contains(page, "Next year?") || !strings.Contains(page, "scheduled") {
		t.Fatal("the page does not list the scheduled poll")
	}
	// The storefront lists the open poll, not the scheduled one.
	front := get("/", nil)
	if !strings.Contains(front, `id="storefront-polls"`) || !strings.Contains(front, "Hidden until the close?") || !strings.Contains(front, ">open<") || strings.Contains(front, "Next year?") {
		t.Fatalf("the storefront's polls: %s", front)
	}
	var before struct{ Polls []pollSummary }
	get("/v1/polls", &before)
	if len(before.Polls) != 2 || before.Polls[1].ID != "hidden" || before.Polls[1].Counts != nil || before.Polls[1].Ballots != 16 {
		t.Fatalf("GET /v1/polls before the close shows a hidden tally: %+v", before.Polls)
	}
	// After the close: ballots refused, the tally and the leaves public.
	now.Store(hidden.Closes.Unix())
	if status, code := post(ballot(17, 0)); status != 403 || code != "poll_closed" {
		t.Fatalf("after close: %d %s", status, code)
	}
	get("/v1/polls/hidden", &v)
	if v.State != "closed" || len(v.Counts) != 2 || v.Counts[0] != 8 || v.Counts[1] != 8 {
		t.Fatalf("closed poll: %s %v", v.State, v.Counts)
	}
	var list struct{ Polls []pollSummary }
	get("/v1/polls", &list)
	if len(list.Polls) != 2 || list.Polls[0].ID != "later" || len(list.Polls[0].Counts) != 2 || list.Polls[1].ID != "hidden" ||
		list.Polls[1].Ballots != 16 || len(list.Polls[1].Counts) != 2 || list.Polls[1].Counts[0] != 8 {
		t.Fatalf("GET /v1/polls after the close: %+v", list.Polls)
	}
	get("/v1/polls/hidden/ballots?start=1&limit=5", &pg)
	if len(pg.Ballots) != 5 || pg.Ballots[0].Leaf == nil || pg.Next != 6 {
		t.Fatalf("closed page: %d leaves, next %d", len(pg.Ballots), pg.Next)
	}
	for _, path := range []string{"/v1/polls/nope", "/v1/polls/NOPE/ballots", "/v1/polls/hidden/ballots?start=x"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 || res.StatusCode < 400 {
			t.Errorf("GET %s: %d", path, res.StatusCode)
		}
	}
}
