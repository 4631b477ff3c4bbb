package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/licensed/licensed/ledger"
)

// TestAnchorsVerifyRefusesNoConfirmedAnchor: `ledger verify --anchors`
// against a server that lists no confirmed anchor fails with one sentence
// (it used to print "ok: 0 confirmed Bitcoin anchors checked" and exit 0,
// proving nothing), before it dials btcd.
func TestAnchorsVerifyRefusesNoConfirmedAnchor(t *testing.T) {
	for _, listing := range []string{
		`{"anchors":[]}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(listing))
		}))
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f := defineAnchorFlags(fs)
		if err := fs.Parse([]string{"--anchors", "--btcd-rpc-host", "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := f.verify(context.Background(), srv.URL, nil, nil, ledger.Checkpoint{Size: 10}, &out)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "none is confirmed") {
			t.Errorf("listing %s: verify --anchors: %v (%s); want a refusal, none confirmed", listing, err, out.String())
		}
	}
}
