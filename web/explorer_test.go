package web

import (
	"context"
	"encoding/base64"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

func TestExplorer(t *testing.T) {
	s := newShop(t, shopOptions{})
	c := s.client()
	if a := c.get("/explorer"); a.status != 200 || !strings.Contains(a.body, "The ledger is empty.") || !strings.Contains(a.body, `id="ledger-size">0`) {
		t.Fatalf("empty ledger: %d\n%s", a.status, a.body)
	}
	ids := []string{s.CardOrder("basic-30d"), s.CardOrder("pro-365d"), s.CardOrder("basic-30d")}
	for _, id := range ids {
		s.Settle(id)
		s.WaitMinted(id)
	}
	if _, err := s.Ledger.Append(context.Background(), &ledger.RevokeEntry{Target: 1, Reason: ledger.RevokeRefund}); err != nil {
		t.Fatal(err)
	}
	a := c.get("/explorer")
	for _, want := range []string{`id="ledger-size">4`, "pro-365d", "#1 (refund)", "pages.test/ledger\n4\n"} {
		if !strings.Contains(html.UnescapeString(a.body), want) {
			t.Errorf("explorer lacks %q", want)
		}
	}
	// Public fields only: no order id, no address, no payment reference.
	for _, id := range ids {
		if strings.Contains(a.body, id) {
			t.Fatalf("the explorer shows order id %s", id)
		}
	}
	cp, err := s.Ledger.Store().Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile(`<code>([A-Za-z0-9+/=]+)</code>`)
	for i := int64(0); i < cp.Size; i++ {
		a := c.get("/explorer?index=" + strconv.FormatInt(i, 10))
		proof := a.body[strings.Index(a.body, `<dl id="proof">`):]
		proof = html.UnescapeString(proof[:strings.Index(proof, "</dl>")])
		var hashes []tlog.Hash
		for _, m := range code.FindAllStringSubmatch(proof, -1) {
			b, err := base64.StdEncoding.DecodeString(m[1])
			if err != nil || len(b) != 32 {
				t.Fatalf("index %d: %q is not a hash", i, m[1])
			}
			var h tlog.Hash
			copy(h[:], b)
			hashes = append(hashes, h)
		}
		// Leaf hash, root, then the audit path.
		if len(hashes) < 2 {
			t.Fatalf("index %d: proof %s", i, proof)
		}
		leaf, root, path := hashes[0], hashes[1], tlog.RecordProof(hashes[2:])
		if root != cp.Root {
			t.Fatalf("index %d: root %v, checkpoint has %v\n%s\n%s", i, root, cp.Root, proof, cp.Note)
		}
		raw, _ := s.Ledger.Store().ReadEntries(context.Background(), i, 1)
		if leaf != tlog.RecordHash(raw[0]) {
			t.Fatalf("index %d: leaf hash is not the entry's", i)
		}
		if err := tlog.CheckRecord(path, cp.Size, cp.Root, i, leaf); err != nil {
			t.Fatalf("index %d: the proof does not verify: %v", i, err)
		}
	}
	for _, tt := range []struct{ name, q, want string }{
		{"not a number", "abc", "whole number"},
		{"negative", "-1", "whole number"},
		{"past the end", "4", "the ledger has 4 entries"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if a := c.get("/explorer?index=" + tt.q); !strings.Contains(a.body, tt.want) {
				t.Fatalf("index=%s:\n%s", tt.q, a.body)
			}
		})
	}
}
