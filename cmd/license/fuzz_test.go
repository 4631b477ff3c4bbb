package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/licensed/licensed/ringverify"
)

func sampleProofFile() []byte {
	req := admitRequest{Scope: "dev/2026-11-22", Counter: 1, Message: []byte("block"),
		Ring: make([]uint64, 16), Tag: make([]byte, 32), Signature: make([]byte, ringverify.ProofSize(16)-32)}
	for i := range req.Ring {
		req.Ring[i] = uint64(i * 7)
	}
	b, _ := json.MarshalIndent(req, "", "  ")
	return b
}

func TestDecodeProofFile(t *testing.T) {
	good := string(sampleProofFile())
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{"good", good, ""},
		{"trailing newline", good + "\n", ""},
		{"trailing data", good + "{}", "data after"},
		{"not json", "hello", "not JSON"},
		{"unknown field", strings.Replace(good, `"scope"`, `"scop"`, 1), "not JSON"},
		{"no scope", strings.Replace(good, `"dev/2026-11-22"`, `""`, 1), "scope"},
		{"short tag", strings.Replace(good, `"tag": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`, `"tag": "AAAA"`, 1), "wrong length"},
		{"hex message", strings.Replace(good, `"YmxvY2s="`, `"626c6f636b"`, 1), "not JSON"},
		{"free tier", `{"scope":"dev/2026-11-22","counter":0,"message":"YQ==","pow":{"timestamp":1,"nonce":"AAAAAAAAAAA="}}`, ""},
		{"nothing", `{"scope":"dev/2026-11-22","counter":0,"message":"YQ=="}`, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeProofFile([]byte(tt.in))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

// FuzzDecodeProofFile: whatever decodes re-encodes to something that decodes
// to the same request.
func FuzzDecodeProofFile(f *testing.F) {
	f.Add(sampleProofFile())
	f.Add([]byte(`{"scope":"dev/2026-11-22","counter":0,"message":"YQ==","pow":{"timestamp":1,"nonce":"AAAAAAAAAAA="}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeProofFile(b)
		if err != nil {
			return
		}
		again, _ := json.Marshal(req)
		req2, err := decodeProofFile(again)
		if err != nil {
			t.Fatalf("re-encoded proof does not decode: %v", err)
		}
		again2, _ := json.Marshal(req2)
		if !bytes.Equal(again, again2) {
			t.Fatal("re-encoding is not stable")
		}
		if len(req.Ring) > 0 {
			// The server parses tag ‖ signature with the ring size; the
			// lengths must at least fit.
			if len(req.Tag)+len(req.Signature) != ringverify.ProofSize(len(req.Ring)) {
				t.Fatal("accepted a proof of the wrong size")
			}
		}
	})
}

// FuzzScopeDay: scopeDay never panics, and a day it returns is midnight UTC
// and formats back to the scope's suffix.
func FuzzScopeDay(f *testing.F) {
	f.Add("dev/2026-11-22")
	f.Add("a/b/2026-01-01")
	f.Add("/2026-01-01")
	f.Add("dev/2026-13-01")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := scopeDay(s)
		if !ok {
			return
		}
		if !strings.HasSuffix(s, "/"+d.Format("2006-01-02")) || d.Hour() != 0 || d.Location().String() != "UTC" {
			t.Fatalf("scopeDay(%q) = %v", s, d)
		}
	})
}
