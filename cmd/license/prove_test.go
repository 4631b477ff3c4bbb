package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger/admission"
)

func TestRingFor(t *testing.T) {
	valid := make([]uint64, 40)
	for i := range valid {
		valid[i] = uint64(i * 3)
	}
	tests := []struct {
		name  string
		valid []uint64
		own   uint64
		n     int
		ok    bool
	}{
		{"ring 16 of 40", valid, 30, 16, true},
		{"own not listed", valid[1:], 0, 16, true},
		{"all of them", valid, 0, 40, true},
		{"one too many", valid, 0, 41, false},
		{"own not counted as a decoy", valid[:16], 0, 17, false},
		{"own fits when listed", valid[:16], 0, 16, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := make([]byte, 32)
			rand.Read(secret)
			ring, pi, err := ringFor(secret, "dev/2026-11-22", 0, tt.valid, tt.own, tt.n)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok {
				return
			}
			if len(ring) != tt.n || ring[pi] != tt.own {
				t.Fatalf("ring %v, pi %d", ring, pi)
			}
			again, pi2, _ := ringFor(secret, "dev/2026-11-22", 0, tt.valid, tt.own, tt.n)
			if !slices.Equal(ring, again) || pi2 != pi {
				t.Fatalf("the same inputs made rings %v and %v", ring, again)
			}
			seen := map[uint64]bool{}
			listed := map[uint64]bool{}
			for _, v := range tt.valid {
				listed[v] = true
			}
			for i, v := range ring {
				if seen[v] {
					t.Fatalf("duplicate member %d", v)
				}
				seen[v] = true
				if i != pi && !listed[v] {
					t.Fatalf("decoy %d is not in the valid list", v)
				}
			}
		})
	}
}

// TestRingForUniform checks with a chi-squared test that the signer's
// position and the choice of decoys are uniform over the secret: a biased
// choice would let a relay guess the signer.
func TestRingForUniform(t *testing.T) {
	const n, pool, runs = 16, 64, 20000
	valid := make([]uint64, pool)
	for i := range valid {
		valid[i] = uint64(i)
	}
	posCount := make([]float64, n)
	memberCount := make([]float64, pool)
	own := uint64(7)
	// A seeded stream of secrets keeps the test deterministic (no
	// 1-in-10,000 flake).
	rnd := mrand.NewChaCha8([32]byte{'l', 'i', 'c'})
	secret := make([]byte, 32)
	for i := range runs {
		rnd.Read(secret)
		ring, pi, err := ringFor(secret, "dev/2026-11-22", uint32(i%3), valid, own, n)
		if err != nil {
			t.Fatal(err)
		}
		posCount[pi]++
		for _, v := range ring {
			if v != own {
				memberCount[v]++
			}
		}
	}
	chi2 := func(counts []float64, expect float64) float64 {
		s := 0.0
		for _, c := range counts {
			s += (c - expect) * (c - expect) / expect
		}
		return s
	}
	// Critical values at p = 0.0001: 15 degrees of freedom 42.0, 62 about 115.
	if x := chi2(posCount, runs/n); x > 42 {
		t.Errorf("signer position not uniform: chi2 = %.1f over %v", x, posCount)
	}
	decoys := append(memberCount[:own:own], memberCount[own+1:]...)
	if x := chi2(decoys, float64(runs*(n-1))/float64(pool-1)); x > 115 {
		t.Errorf("decoys not uniform: chi2 = %.1f", x)
	}
	if memberCount[own] != 0 {
		t.Error("own index drawn as a decoy")
	}
}

// TestRingForStable: the ring depends on the secret, the scope and the
// counter; a license added to the valid list changes at most one member.
func TestRingForStable(t *testing.T) {
	valid := make([]uint64, 200)
	for i := range valid {
		valid[i] = uint64(i)
	}
	secret := bytes.Repeat([]byte{1}, 32)
	ring, _, _ := ringFor(secret, "dev/2026-11-22", 0, valid, 7, 16)
	for _, c := range []struct {
		name    string
		secret  []byte
		scope   string
		counter uint32
	}{
		{"another secret", bytes.Repeat([]byte{2}, 32), "dev/2026-11-22", 0},
		{"another scope", secret, "dev/2026-11-23", 0},
		{"another counter", secret, "dev/2026-11-22", 1},
	} {
		other, _, _ := ringFor(c.secret, c.scope, c.counter, valid, 7, 16)
		if slices.Equal(ring, other) {
			t.Errorf("%s: the same ring", c.name)
		}
	}
	for extra := uint64(1000); extra < 1050; extra++ {
		grown, _, _ := ringFor(secret, "dev/2026-11-22", 0, append(slices.Clone(valid), extra), 7, 16)
		changed := 0
		for _, v := range grown {
			if !slices.Contains(ring, v) {
				changed++
			}
		}
		if changed > 1 {
			t.Fatalf("adding license %d changed %d members", extra, changed)
		}
	}
}

func TestCheckScopeCurrent(t *testing.T) {
	noon := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	justAfter := time.Date(2026, 11, 22, 0, 5, 0, 0, time.UTC)
	justBefore := time.Date(2026, 11, 22, 23, 55, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		scope string
		now   time.Time
		ok    bool
	}{
		{"today", "dev/2026-11-22", noon, true},
		{"yesterday", "dev/2026-11-21", noon, false},
		{"tomorrow", "dev/2026-11-23", noon, false},
		{"yesterday just after midnight", "dev/2026-11-21", justAfter, true},
		{"tomorrow just before midnight", "dev/2026-11-23", justBefore, true},
		{"no day", "dev", noon, false},
		{"not a date", "dev/2026-13-01", noon, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkScopeCurrent(c.scope, c.now)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "no counter was spent") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestPoW(t *testing.T) {
	msg, tag := []byte("block hash"), make([]byte, 32)
	for _, bits := range []int{0, 4, 12} {
		t.Run(fmt.Sprint("bits=", bits), func(t *testing.T) {
			p, err := solvePoW(t.Context(), "test/2025-11-22", msg, tag, 1763776000, bits)
			if err != nil {
				t.Fatal(err)
			}
			h := admission.PoWHash("test/2025-11-22", msg, tag, p.Timestamp, p.Nonce)
			if admission.LeadingZeroBits(h) < bits || len(p.Nonce) != 8 {
				t.Fatalf("hash %x has too few zero bits", h)
			}
		})
	}
}

func TestChooseLicense(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	lic := func(idx uint64, plan string, from, until int, quota uint32, revoked bool) wallet.License {
		return wallet.License{Index: idx, Plan: plan, NotBefore: day.AddDate(0, 0, from), NotAfter: day.AddDate(0, 0, until), DailyQuota: quota, Revoked: revoked}
	}
	c := &wallet.Contents{Licenses: []wallet.License{
		lic(1, "basic", -30, 0, 5, false), // expired
		lic(2, "basic", 0, 30, 2, false),  // valid
		lic(3, "basic", 0, 30, 3, true),   // revoked
		lic(4, "pro", 1, 30, 9, false),    // not yet valid
		lic(5, "basic", -1, 30, 3, false), // valid, larger quota
		lic(6, "gold", -10, -5, 3, false), // expired
	}}
	scope := "dev/2026-11-22"
	tests := []struct {
		name string
		plan string
		uses map[uint64]uint32
		want uint64
		err  string
	}{
		{"most left", "", nil, 5, ""},
		{"plan filter", "basic", map[uint64]uint32{5: 3}, 2, ""},
		{"quota spent", "basic", map[uint64]uint32{5: 3, 2: 2}, 0, "whole daily quota"},
		{"unknown plan", "platinum", nil, 0, "no license of plan"},
		{"none valid", "pro", nil, 0, "none of the account's licenses is valid"},
		{"expired plan", "gold", nil, 0, "none of the account's licenses is valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Uses = nil
			for idx, n := range tt.uses {
				c.SetNextCounter(idx, scope, n)
			}
			got, _, err := chooseLicense(c, tt.plan, scope, now, func(l *wallet.License) (uint32, error) { return c.NextCounter(l.Index, scope), nil })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.Index != tt.want {
				t.Fatalf("got %v %v, want %d", got, err, tt.want)
			}
		})
	}
	if _, _, err := chooseLicense(&wallet.Contents{}, "", scope, now, nil); err == nil || !strings.Contains(err.Error(), "holds no license") {
		t.Fatalf("empty account: %v", err)
	}
}

func TestRootCause(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"path error", &os.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}, "file does not exist"},
		{"url error", &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, "connection refused"},
		{"plain", errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rootCause(tt.err); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHoistGlobalFlags(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"none", "scan --quiet", "scan --quiet"},
		{"server first", "--server http://x scan --quiet", "scan --server http://x --quiet"},
		{"equals form", "--account=/a -ledger-key k list", "list --account=/a -ledger-key k"},
		{"account sub-verb", "--account /a account new --restore", "account new --account /a --restore"},
		{"account help", "--account /a account --help", "account --help --account /a"},
		{"unknown flag stays", "--nope scan", "--nope scan"},
		{"missing value", "--server", "--server"},
		{"no verb", "--server http://x", "--server http://x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(hoistGlobalFlags(strings.Fields(tt.in)), " "); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckValidList(t *testing.T) {
	tests := []struct {
		name   string
		listed int
		census uint64
		ok     bool
	}{
		{"nothing scanned", 16, 0, true},
		{"small ledger", 3, 16, true},
		{"equal", 1000, 1000, true},
		{"more listed than scanned", 1200, 1000, true},
		{"a tenth and a ring missing", 884, 1000, true},
		{"one more missing", 883, 1000, false},
		{"tailored list", 16, 100000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkValidList("basic", tt.listed, tt.census)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
