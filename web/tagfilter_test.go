package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/tagfilter"
	"github.com/licensed/licensed/ringverify"
)

func getFilter(t *testing.T, base, scope string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(base + "/v1/tags/filter?scope=" + url.QueryEscape(scope))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestTagFilter: the filter of a scope holds the (counter, tag) of every
// proof admitted in it, and nothing of the next
// counter; other scopes are refused with a code.
func TestTagFilter(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	base, svc := admitServer(t, f, Config{})
	now := time.Now()
	scope := admissiontest.Scope(now)

	tomorrow := admissiontest.Scope(now.AddDate(0, 0, 1))
	code, hdr, body := getFilter(t, base, tomorrow)
	if code != http.StatusOK || hdr.Get("Cache-Control") != "public, max-age=10" || hdr.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("empty filter: %d %v", code, hdr)
	}
	empty, err := tagfilter.Parse(body)
	if err != nil || empty.Len() != 0 || empty.Scope() != tomorrow {
		t.Fatalf("empty filter: %v %+v", err, empty)
	}

	var tags [][]byte
	for i, c := range f.Customers {
		ring, pi := f.Ring(t, c, 16)
		req := f.Prove(t, c, ring, pi, scope, uint32(i), []byte("block"))
		if res, err := svc.Admit(context.Background(), req); err != nil || !res.Admitted {
			t.Fatalf("admit %d: %v", i, err)
		}
		tags = append(tags, req.Tag)
	}
	code, _, body = getFilter(t, base, scope)
	filter, err := tagfilter.Parse(body)
	if code != http.StatusOK || err != nil {
		t.Fatalf("filter: %d %v", code, err)
	}
	if filter.Len() != uint64(len(tags)) {
		t.Fatalf("filter holds %d keys, want %d", filter.Len(), len(tags))
	}
	for i, tag := range tags {
		if !filter.Contains(uint32(i), tag) {
			t.Errorf("admitted tag %d missing", i)
		}
		// The customer's next counter's tag is absent (the filter is
		// built from 2 keys: a false positive is a 0.3% event).
		x := f.Customers[i].License.Secret
		next := ringverify.TagBase(scope, uint32(i)+1, f.Customers[i].License.P.Bytes())
		if filter.Contains(uint32(i)+1, next.ScalarMult(x, next).Bytes()) {
			t.Errorf("customer %d's unused counter is in the filter", i)
		}
	}

	for _, c := range []struct{ name, scope, code string }{
		{"no scope", "", "malformed"},
		{"another network", "other/" + now.UTC().Format(time.DateOnly), "scope_not_current"},
		{"two days ago", admissiontest.Scope(now.AddDate(0, 0, -2)), "scope_not_current"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := getFilter(t, base, c.scope)
			var e struct{ Code, Message string }
			json.Unmarshal(body, &e)
			if code != http.StatusBadRequest || e.Code != c.code || e.Message == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if code, _, _ := getFilter(t, base, admissiontest.Scope(now.AddDate(0, 0, -1))); code != http.StatusOK {
		t.Fatalf("yesterday's filter: %d", code)
	}
}
