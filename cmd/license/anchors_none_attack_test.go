package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
		err := f.verify(context.Background(), srv.URL, nil, nil, ledger.Checkpoint{Size: 10}, "", &out)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "none is confirmed") {
			t.Errorf("listing %s: verify --anchors: %v (%s); want a refusal, none confirmed", listing, err, out.String())
		}
	}
}

// TestAnchorsVerifyRefusesADroppedAnchor: an anchor an earlier run checked
// as confirmed (kept beside the state file) that the server no longer lists
// fails verify --anchors, before it dials btcd; a garbled file is named.
func TestAnchorsVerifyRefusesADroppedAnchor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"anchors":[]}`))
	}))
	defer srv.Close()
	seen := filepath.Join(t.TempDir(), "ledger.checkpoint.anchors")
	txid := strings.Repeat("ab", 32)
	for _, tc := range []struct{ file, want string }{
		{txid + " 4\n", "no longer lists the anchor of size 4 in tx " + txid},
		{"not an anchor\n", "is not \"<txid> <size>\""},
	} {
		if err := os.WriteFile(seen, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f := defineAnchorFlags(fs)
		if err := fs.Parse([]string{"--anchors", "--btcd-rpc-host", "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := f.verify(context.Background(), srv.URL, nil, nil, ledger.Checkpoint{Size: 10}, seen, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("seen file %q: %v; want an error saying %q", tc.file, err, tc.want)
		}
	}
}
