package wallet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licensed/licensed/issuer"
)

// cheap keeps the tests fast; the format does not depend on the parameters.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func sample(t testing.TB) *Contents {
	t.Helper()
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := New(acct)
	c.Ledger = LedgerState{Key: "dev.example+01234567+AQID", Size: 1000, Root: bytes.Repeat([]byte{7}, 32), Scanned: 1000}
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, idx := range []uint64{42, 7} {
		c.AddLicense(License{
			Index: idx, Plan: "basic", NotBefore: day, NotAfter: day.AddDate(0, 0, 30), DailyQuota: 3,
			Receipt: bytes.Repeat([]byte{1}, issuer.ReceiptSize), Key: bytes.Repeat([]byte{2}, 32), Secret: bytes.Repeat([]byte{3}, 32),
		})
	}
	c.SetNextCounter(7, "dev/2026-11-22", 2)
	c.CountLicense("basic", 20000, 20030)
	return c
}

func TestRoundTrip(t *testing.T) {
	c := sample(t)
	k, err := DeriveKey([]byte("correct horse"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Seal(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < HeaderSize || string(b[:7]) != Magic {
		t.Fatalf("bad envelope %x", b[:10])
	}
	got, k2, err := Open(b, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Seed, c.Seed) || got.Ledger.Size != 1000 || !bytes.Equal(got.Ledger.Root, c.Ledger.Root) {
		t.Fatalf("contents differ: %+v", got)
	}
	if len(got.Licenses) != 2 || got.Licenses[0].Index != 7 || got.Licenses[1].Index != 42 {
		t.Fatalf("licenses not kept in index order: %+v", got.Licenses)
	}
	if !got.Licenses[0].NotBefore.Equal(c.Licenses[0].NotBefore) || got.Licenses[0].DailyQuota != 3 {
		t.Fatalf("license fields lost: %+v", got.Licenses[0])
	}
	if n := got.NextCounter(7, "dev/2026-11-22"); n != 2 {
		t.Fatalf("counter = %d, want 2", n)
	}
	if n := got.CensusValid("basic", 20010); n != 1 {
		t.Fatalf("census = %d after round trip, want 1", n)
	}
	if k2.Params() != cheap {
		t.Fatalf("params = %+v", k2.Params())
	}
	// Re-sealing with the returned key uses a fresh nonce and opens again.
	b2, err := k2.Seal(got)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b2[50:HeaderSize], b[50:HeaderSize]) {
		t.Fatal("nonce reused across saves")
	}
	if !bytes.Equal(b2[:50], b[:50]) {
		t.Fatal("re-sealing changed the key header")
	}
	if _, _, err := Open(b2, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	a1, _ := c.Account()
	a2, _ := got.Account()
	if !a1.Equal(a2) {
		t.Fatal("account differs after round trip")
	}
}

func TestOpenErrors(t *testing.T) {
	c := sample(t)
	k, err := DeriveKey([]byte("pass"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	good, err := k.Seal(c)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		file []byte
		pass string
		want error
	}{
		{"wrong passphrase", good, "Pass", ErrWrongPassphrase},
		{"empty passphrase", good, "", ErrNoPassphrase},
		{"empty file", nil, "pass", ErrNotAccountFile},
		{"truncated header", good[:HeaderSize-1], "pass", ErrNotAccountFile},
		{"truncated tag", good[:len(good)-1], "pass", ErrDamaged},
		{"bad magic", flip(0), "pass", ErrNotAccountFile},
		{"future version", flip(7), "pass", ErrNotAccountFile},
		{"unknown kdf", flip(8), "pass", ErrNotAccountFile},
		{"time changed", func() []byte { b := bytes.Clone(good); b[12] = 2; return b }(), "pass", ErrWrongPassphrase},
		{"memory too large", func() []byte { b := bytes.Clone(good); b[13] = 0xff; return b }(), "pass", ErrNotAccountFile},
		{"zero threads", func() []byte { b := bytes.Clone(good); b[17] = 0; return b }(), "pass", ErrNotAccountFile},
		{"salt changed", flip(20), "pass", ErrWrongPassphrase},
		{"check changed", flip(40), "pass", ErrWrongPassphrase},
		{"nonce changed", flip(60), "pass", ErrDamaged},
		{"ciphertext changed", flip(HeaderSize + 3), "pass", ErrDamaged},
		{"tag changed", flip(len(good) - 1), "pass", ErrDamaged},
		{"appended byte", append(bytes.Clone(good), 0), "pass", ErrDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Open(tt.file, []byte(tt.pass))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSealRefusesInvalid(t *testing.T) {
	k, err := DeriveKey([]byte("pass"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(c *Contents)
	}{
		{"short seed", func(c *Contents) { c.Seed = c.Seed[:31] }},
		{"scanned past size", func(c *Contents) { c.Ledger.Scanned = c.Ledger.Size + 1 }},
		{"short root", func(c *Contents) { c.Ledger.Root = c.Ledger.Root[:31] }},
		{"short secret", func(c *Contents) { c.Licenses[0].Secret = c.Licenses[0].Secret[:31] }},
		{"zero quota", func(c *Contents) { c.Licenses[0].DailyQuota = 0 }},
		{"empty validity", func(c *Contents) { c.Licenses[0].NotAfter = c.Licenses[0].NotBefore }},
		{"duplicate index", func(c *Contents) { c.Licenses[1].Index = c.Licenses[0].Index }},
		{"empty scope", func(c *Contents) { c.Uses[0].Scope = "" }},
		{"empty census interval", func(c *Contents) { c.Census[0].Until = c.Census[0].From }},
		{"census without plan", func(c *Contents) { c.Census[0].Plan = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sample(t)
			tt.change(c)
			if _, err := k.Seal(c); err == nil {
				t.Fatal("invalid contents sealed")
			}
		})
	}
}

func TestDeriveKeyParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"cheap", cheap, true},
		{"default", DefaultParams, true},
		{"zero time", Params{0, 64, 1}, false},
		{"too little memory", Params{1, 15, 2}, false},
		{"too much memory", Params{1, MaxMemoryKiB + 1, 1}, false},
		{"too many threads", Params{1, 1 << 12, MaxThreads + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.MemoryKiB > 1<<17 || tt.name == "default" {
				// Only check validation, not run a big derivation.
				if tt.p.valid() != tt.ok {
					t.Fatalf("valid = %v", !tt.ok)
				}
				return
			}
			_, err := DeriveKey([]byte("x"), tt.p)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestCreateSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "account")
	c := sample(t)
	k, err := DeriveKey([]byte("pass"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Create(path, c); err != nil {
		t.Fatal(err)
	}
	if err := k.Create(path, c); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want ErrExist", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %v, want 0700", st.Mode().Perm())
	}
	got, k2, err := Load(path, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	got.Ledger.Scanned = 5
	if err := k2.Save(path, got); err != nil {
		t.Fatal(err)
	}
	again, _, err := Load(path, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Ledger.Scanned != 5 {
		t.Fatalf("scanned = %d after save", again.Ledger.Scanned)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if _, _, err := Load(filepath.Join(dir, "missing"), []byte("pass")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestCounters(t *testing.T) {
	c := sample(t)
	if n := c.NextCounter(42, "dev/2026-11-22"); n != 0 {
		t.Fatalf("unused counter = %d", n)
	}
	c.SetNextCounter(42, "dev/2026-11-22", 1)
	c.SetNextCounter(42, "dev/2026-11-23", 2)
	c.SetNextCounter(42, "dev/2026-11-22", 3)
	if n := c.NextCounter(42, "dev/2026-11-22"); n != 3 {
		t.Fatalf("counter = %d, want 3", n)
	}
	c.PruneUses(func(s string) bool { return s == "dev/2026-11-23" })
	if len(c.Uses) != 1 || c.NextCounter(42, "dev/2026-11-23") != 2 || c.NextCounter(7, "dev/2026-11-22") != 0 {
		t.Fatalf("prune kept %+v", c.Uses)
	}
	if c.AddLicense(License{Index: 42}) {
		t.Fatal("duplicate license added")
	}
}

func TestCensus(t *testing.T) {
	var c Contents
	for range 3 {
		c.CountLicense("basic", 100, 130)
	}
	c.CountLicense("basic", 110, 140)
	c.CountLicense("pro", 100, 130)
	tests := []struct {
		name string
		plan string
		day  uint32
		want uint64
	}{
		{"before", "basic", 99, 0},
		{"first day", "basic", 100, 3},
		{"overlap", "basic", 115, 4},
		{"last day of the first", "basic", 129, 4},
		{"first excluded day", "basic", 130, 1},
		{"after", "basic", 140, 0},
		{"other plan", "pro", 115, 1},
		{"unknown plan", "gold", 115, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.CensusValid(tt.plan, tt.day); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	if len(c.Census) != 3 {
		t.Fatalf("census has %d rows, want 3 (one per plan and validity)", len(c.Census))
	}
}

// TestLockSerialises checks that Lock excludes concurrent holders: each
// goroutine increments a counter in the file, and none is lost.
func TestLockSerialises(t *testing.T) {
	path := filepath.Join(t.TempDir(), "account")
	k, err := DeriveKey([]byte("pass"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Create(path, sample(t)); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := Lock(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			c, k, err := Load(path, []byte("pass"))
			if err != nil {
				t.Error(err)
				return
			}
			c.SetNextCounter(42, "s", c.NextCounter(42, "s")+1)
			if err := k.Save(path, c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, _, err := Load(path, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NextCounter(42, "s"); got != n {
		t.Fatalf("counter = %d, want %d: a read-modify-write was lost", got, n)
	}
}

// BenchmarkOpen is the cost of opening an account file: one Argon2id run
// with the parameters the file records, then the AEAD and JSON decoding.
func BenchmarkOpen(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    Params
	}{{"params=default", DefaultParams}, {"params=cheap", cheap}} {
		b.Run(tc.name, func(b *testing.B) {
			k, err := DeriveKey([]byte("pass"), tc.p)
			if err != nil {
				b.Fatal(err)
			}
			file, err := k.Seal(sample(b))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Open(file, []byte("pass")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
