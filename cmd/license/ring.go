package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger/tagfilter"
	"github.com/licensed/licensed/ringverify"
)

// Hash labels of the deterministic ring (client side only: a relay cannot
// tell a deterministic ring from a random one).
const (
	labelRingSeed     = "lic/v1/ring-seed"
	labelRingRank     = "lic/v1/ring-rank"
	labelRingPosition = "lic/v1/ring-position"
)

// ringFor returns the ring of size n for license own, whose secret is
// secret (32 bytes), in scope at counter, drawn from valid (which may hold
// own and must be free of duplicates), and the position of own in it.
//
// The ring is a function of the secret, the scope, the counter and the
// valid list, and nothing else, so proving the same (scope, counter) again
// (a retry, or an account restored from a backup that did not record the
// first proof) shows relays the same ring, and the intersection of the two
// rings is the whole ring, not the signer. It is computed as
//
//	seed    = SHA-512("lic/v1/ring-seed" ‖ x ‖ u16(len(s)) ‖ s ‖ u32(j))[:32]
//	rank(i) = SHA-256("lic/v1/ring-rank" ‖ seed ‖ u64(i))   for every listed i ≠ own
//	decoys  = the n−1 indices of lowest rank (bytes compared), in rank order
//	π       = u64(SHA-256("lic/v1/ring-position" ‖ seed)[:8]) mod n
//	ring    = decoys[:π] ‖ own ‖ decoys[π:]
//
// For anyone without x the ranks are independent and uniform, so the decoys
// are a uniform sample without replacement and π is uniform (the modulo's
// bias is below n/2^64). Ranking, rather than shuffling a seeded stream,
// keeps the ring stable as the valid list changes during the day: a
// license added to or removed from the list changes the ring only if it
// ranks among its lowest n−1.
func ringFor(secret []byte, scope string, counter uint32, valid []uint64, own uint64, n int) (ring []uint64, pi int, err error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("ring size %d", n)
	}
	h := sha512.New()
	h.Write([]byte(labelRingSeed))
	h.Write(secret)
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(scope))))
	h.Write([]byte(scope))
	h.Write(binary.BigEndian.AppendUint32(nil, counter))
	seed := h.Sum(nil)[:32]

	type ranked struct {
		rank  [sha256.Size]byte
		index uint64
	}
	pool := make([]ranked, 0, len(valid))
	buf := append([]byte(labelRingRank), seed...)
	at := len(buf)
	buf = append(buf, make([]byte, 8)...)
	for _, v := range valid {
		if v == own {
			continue
		}
		binary.BigEndian.PutUint64(buf[at:], v)
		pool = append(pool, ranked{sha256.Sum256(buf), v})
	}
	if len(pool) < n-1 {
		return nil, 0, fmt.Errorf("only %d other valid licenses", len(pool))
	}
	slices.SortFunc(pool, func(a, b ranked) int { return bytes.Compare(a.rank[:], b.rank[:]) })
	p := sha256.Sum256(append([]byte(labelRingPosition), seed...))
	pi = int(binary.BigEndian.Uint64(p[:8]) % uint64(n))
	ring = make([]uint64, 0, n)
	for _, r := range pool[:pi] {
		ring = append(ring, r.index)
	}
	ring = append(ring, own)
	for _, r := range pool[pi : n-1] {
		ring = append(ring, r.index)
	}
	return ring, pi, nil
}

// tagOf returns the tag that license l makes in scope at counter: x·H with
// H = ringverify.TagBase(scope, counter, P).
func tagOf(l *wallet.License, scope string, counter uint32) ([]byte, error) {
	x, err := ristretto255.NewScalar().SetCanonicalBytes(l.Secret)
	if err != nil {
		return nil, err
	}
	h := ringverify.TagBase(scope, counter, l.Key)
	return ristretto255.NewIdentityElement().ScalarMult(x, h).Bytes(), nil
}

// firstFreeCounter returns the first counter of l in scope, from the
// account file's next counter on, whose tag the server's filter does not
// hold (DailyQuota if none is left). A false positive of the filter costs a
// counter; it never makes a used counter look free.
func firstFreeCounter(c *wallet.Contents, l *wallet.License, scope string, filter *tagfilter.Filter) (uint32, error) {
	for j := c.NextCounter(l.Index, scope); j < l.DailyQuota; j++ {
		if filter == nil {
			return j, nil
		}
		tag, err := tagOf(l, scope, j)
		if err != nil {
			return 0, sayf("the account file holds an invalid license secret; restore it from the seed phrase and scan again.")
		}
		if !filter.Contains(j, tag) {
			return j, nil
		}
	}
	return l.DailyQuota, nil
}

// maxFilterSize bounds the tag filter the tool downloads.
const maxFilterSize = 128 << 20

// tagFilter fetches and parses the server's filter of the tags admitted in
// scope.
func (c *apiClient) tagFilter(ctx context.Context, scope string) (*tagfilter.Filter, error) {
	b, err := c.do(ctx, http.MethodGet, "/v1/tags/filter?scope="+url.QueryEscape(scope), nil, maxFilterSize)
	if err != nil {
		if r, ok := err.(*refusal); ok && r.Code == "scope_not_current" {
			return nil, sayf("the server refuses scope %q: %s", scope, refusalSentence(r))
		}
		return nil, err
	}
	f, err := tagfilter.Parse(b)
	if err != nil || f.Scope() != scope {
		return nil, sayf("the server at %s sent a filter of used tags that is not a valid filter for scope %q; it is broken.", c.base, scope)
	}
	return f, nil
}

// scopeSkew is how far from midnight UTC the neighbouring day's scope is
// still or already accepted, as the server's default.
const scopeSkew = 10 * time.Minute

// checkScopeCurrent refuses a scope whose day is not the current UTC day at
// now (allowing the neighbouring day within scopeSkew of midnight), before
// anything is spent: the server would refuse its proof.
func checkScopeCurrent(scope string, now time.Time) error {
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	day, ok := scopeDay(scope)
	if ok && day.Format(time.DateOnly) == scope[len(scope)-len(time.DateOnly):] {
		switch {
		case day.Equal(today),
			day.Equal(today.AddDate(0, 0, -1)) && now.Sub(today) < scopeSkew,
			day.Equal(today.AddDate(0, 0, 1)) && day.Sub(now) < scopeSkew:
			return nil
		}
	}
	network := "NETWORK"
	if i := len(scope) - len(time.DateOnly) - 1; ok && i > 0 {
		network = scope[:i]
	}
	return sayf("the scope %q is not the current UTC day's (%s): relays would refuse the proof, so none was made and no counter was spent; use --scope %s/%s.",
		scope, today.Format(time.DateOnly), network, today.Format(time.DateOnly))
}
