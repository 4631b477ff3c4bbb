package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ringverify"
)

// TestPollsHostileClients: 40 concurrent ballots of one license (different
// options, fresh randomness, one tag) give exactly one 201 and 409s;
// hostile bodies and queries give 4xx, never 5xx.
func TestPollsHostileClients(t *testing.T) {
	ctx := context.Background()
	opens := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db, store := testPollStore(t, opens)
	deps := Deps{DB: db, Polls: &PollDeps{Store: store, Now: func() time.Time { return opens.Add(time.Hour) }}, Pages: &Pages{}}
	ts := httptest.NewServer(New(Config{}, deps, slog.New(slog.DiscardHandler)).Handler())
	defer ts.Close()
	p := &poll.Poll{ID: "race", Question: "Race?", Options: []string{"yes", "no", "maybe"}, Plans: []string{"pro"},
		Opens: opens, Closes: opens.Add(24 * time.Hour), Electorate: 20, MinRing: 11}
	st, err := store.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	ring := make([]uint64, 20)
	keys := make([]*ristretto255.Element, 20)
	for i := range ring {
		ring[i] = uint64(i)
		keys[i] = ristretto255.NewIdentityElement().ScalarBaseMult(pollSecret(uint64(i)))
	}
	post := func(path string, body []byte) (int, string) {
		res, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	for i := range 40 {
		opt := i % 3
		pr, err := ringverify.Sign(rand.Reader, pollSecret(3), keys, 3, p.Scope(), 0, poll.Message(st.Hash, opt))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(poll.NewRequest(opt, ring, pr))
		wg.Go(func() {
			s, _ := post("/v1/polls/race/ballots", js)
			mu.Lock()
			got[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[201] != 1 || got[409] != 39 {
		t.Errorf("40 concurrent ballots of one license: %v, want one 201 and 39 409", got)
	}
	sig := strings.Repeat("A", 43) + "="
	bad := []string{
		`null`, `[]`, `{}`, `{"option":1e30,"ring":[1],"tag":"","signature":""}`,
		`{"option":0,"ring":[18446744073709551615,1,2,3,4,5,6,7,8,9,10],"tag":"` + sig + `","signature":"` + strings.Repeat(sig, 12) + `"}`,
		`{"option":0,"ring":[1,1,2,3,4,5,6,7,8,9,10],"tag":"` + sig + `","signature":"` + strings.Repeat(sig, 12) + `"}`,
		`{"option":2,"ring":[0,1,2,3,4,5,6,7,8,9,19],"tag":"` + sig + `","signature":"` + strings.Repeat(sig, 12) + `"}`,
		`{"option":0,"ring":[0,1,2,3,4,5,6,7,8,9,10],"tag":"` + strings.Repeat("_", 44) + `","signature":"` + strings.Repeat(sig, 12) + `"}`,
	}
	for _, b := range bad {
		if s, body := post("/v1/polls/race/ballots", []byte(b)); s >= 500 || s < 400 {
			t.Errorf("POST %.60s: %d %s", b, s, body)
		}
	}
	for _, path := range []string{"/v1/polls/" + strings.Repeat("a", 5000), "/v1/polls/%00", "/v1/polls/race/ballots?start=9223372036854775807",
		"/v1/polls/race/ballots?start=-1", "/v1/polls/race/ballots?limit=0", "/v1/polls/race/ballots?limit=99999999999999999999"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
		}
	}
	if s, body := post("/v1/polls/"+strings.Repeat("b", 70)+"/ballots", []byte(`{}`)); s >= 500 {
		t.Errorf("POST long id: %d %s", s, body)
	}

	// Cheap checks first: a replay of license 3's tag (already in the log,
	// public in every page) with a junk signature is refused by one indexed
	// lookup (409 already_voted), before the ring is resolved and the proof
	// verified (which would answer 400 signature).
	t.Run("ReplayedTagVerifiedFirst", func(t *testing.T) {
		pr, err := ringverify.Sign(rand.Reader, pollSecret(3), keys, 3, p.Scope(), 0, poll.Message(st.Hash, 0))
		if err != nil {
			t.Fatal(err)
		}
		req := poll.NewRequest(0, ring, pr)
		req.Signature[5] ^= 1 // junk: costs a full verification to find out
		js, _ := json.Marshal(req)
		s, body := post("/v1/polls/race/ballots", js)
		if s != http.StatusConflict {
			t.Errorf("a ballot with a used tag and a bad signature: %d %s; want 409 already_voted before verifying", s, body)
		}
	})
}
