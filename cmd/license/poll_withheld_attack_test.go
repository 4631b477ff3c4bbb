package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger/poll"
)

// TestPollVerifyRefusesWithheldBallots: a poll WITHOUT a hidden
// tally, closed long ago, whose server publishes counts [5 0] but serves
// its one ballot leaf as a hash only. `license poll verify` must refuse
// (the ballots must be public, and the published tally cannot be
// recounted); it prints "the tally is hidden until the close" and exits 0.
func TestPollVerifyRefusesWithheldBallots(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, "evil.license.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	p := &poll.Poll{ID: "rigged", Question: "Which?", Options: []string{"yes", "no"}, Plans: []string{"basic"},
		Opens: now.Add(-72 * time.Hour), Closes: now.Add(-48 * time.Hour), Electorate: 100, HiddenTally: false, MinRing: 11}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	def, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := poll.HashDefinition(def)
	h0 := tlog.RecordHash(def)
	h1 := tlog.RecordHash([]byte("a ballot nobody may see"))
	root := tlog.NodeHash(h0, h1)
	signed, err := poll.SignCheckpoint(poll.Checkpoint{Origin: poll.Origin(signer.Name(), p.ID), Size: 2, Root: root}, signer)
	if err != nil {
		t.Fatal(err)
	}
	view := poll.NewView(p, def, now)
	view.Ballots = 1
	view.Counts = []int64{5, 0} // a tally nobody can recount
	view.Checkpoint = string(signed)
	page := poll.Page{Checkpoint: string(signed), Size: 2, Ballots: []poll.LeafView{
		{Index: 0, Leaf: def, LeafHash: h0[:], Proof: [][]byte{h1[:]}},
		{Index: 1, LeafHash: h1[:], Tag: make([]byte, 32), Proof: [][]byte{h0[:]}}, // withheld
	}}
	_ = h
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/polls/rigged":
			json.NewEncoder(w).Encode(view)
		case r.URL.Path == "/v1/polls/rigged/ballots":
			json.NewEncoder(w).Encode(page)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	useAccount(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(envLicenseServer, srv.URL)
	t.Setenv(envLicenseLedgerKey, verifierKey(t, skey))
	code, out, errs := runLicense(t, "", "poll", "verify", p.ID)
	if code == 0 || !strings.Contains(out+errs, "withholds ballot 1") {
		t.Fatalf("poll verify accepted a closed, public poll whose ballots are withheld and whose tally [5 0] cannot be recounted, or refused it for another reason (exit %d):\n%s%s", code, out, errs)
	}
}
