package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger/admission"
)

func TestPickRing(t *testing.T) {
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
			ring, pi, err := pickRing(rand.Reader, tt.valid, tt.own, tt.n)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok {
				return
			}
			if len(ring) != tt.n || ring[pi] != tt.own {
				t.Fatalf("ring %v, pi %d", ring, pi)
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

// TestPickRingUniform checks with a chi-squared test that the signer's
// position and the choice of decoys are uniform: a biased choice would let a
// relay guess the signer.
func TestPickRingUniform(t *testing.T) {
	const n, pool, runs = 16, 64, 20000
	valid := make([]uint64, pool)
	for i := range valid {
		valid[i] = uint64(i)
	}
	posCount := make([]float64, n)
	memberCount := make([]float64, pool)
	own := uint64(7)
	// A seeded stream keeps the test deterministic (no 1-in-10,000 flake);
	// pickRing's uniformity does not depend on the source being secret.
	rnd := mrand.NewChaCha8([32]byte{'l', 'i', 'c'})
	for range runs {
		ring, pi, err := pickRing(rnd, valid, own, n)
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
			got, err := chooseLicense(c, tt.plan, scope, now)
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
	if _, err := chooseLicense(&wallet.Contents{}, "", scope, now); err == nil || !strings.Contains(err.Error(), "holds no license") {
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
