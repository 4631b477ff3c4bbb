package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// indexBytesPerLicense builds an index of n license entries the way Sync
// does (chunks of 20,000 encodings, dropped after each apply) and returns
// the heap it keeps per license.
func indexBytesPerLicense(t testing.TB, n int) (bytesPer float64, applyPer time.Duration) {
	// Keys need not be distinct here: the index does not check, and a few
	// hundred valid ristretto255 points are quicker to make than a million.
	keys := make([][KeySize]byte, 256)
	for i := range keys {
		keys[i] = randomKey(t)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix := NewIndex()
	const chunk = 20000
	for start := 0; start < n; start += chunk {
		batch := make([][]byte, 0, chunk)
		for i := start; i < min(start+chunk, n); i++ {
			e := testLicense(t, []string{"basic", "pro", "team"}[i%3])
			e.P = keys[i%len(keys)]
			e.NotBefore, e.NotAfter = Day(uint32(20000+i%365)), Day(uint32(20030+i%365))
			b, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, b)
		}
		t0 := time.Now()
		if err := ix.apply(uint64(start), batch, false); err != nil {
			t.Fatal(err)
		}
		applyPer += time.Since(t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if ix.Size() != uint64(n) {
		t.Fatalf("index size %d", ix.Size())
	}
	runtime.KeepAlive(ix)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n), applyPer / time.Duration(n)
}

// TestIndexMemory checks the index stays within 120 bytes per license.
func TestIndexMemory(t *testing.T) {
	per, _ := indexBytesPerLicense(t, 50000)
	t.Logf("%.1f bytes per license (50k licenses)", per)
	if per > 120 {
		t.Fatalf("the index takes %.1f bytes per license, more than 120", per)
	}
}

// BenchmarkIndexMemory reports the index's heap per license for 1M
// licenses, and the time Sync spends per entry applying them (the start-up
// cost of a server).
//
//	go test ./ledger -run '^$' -bench IndexMemory -benchtime 1x
func BenchmarkIndexMemory(b *testing.B) {
	for range b.N {
		per, apply := indexBytesPerLicense(b, 1000000)
		b.ReportMetric(per, "bytes/license")
		b.ReportMetric(float64(apply.Nanoseconds()), "apply-ns/license")
	}
}

// TestMemberAllocs checks that Member, called once per ring member on every
// admission, does not allocate.
func TestMemberAllocs(t *testing.T) {
	ix := NewIndex()
	var batch [][]byte
	for range 100 {
		b, _ := testLicense(t, "pro").MarshalBinary()
		batch = append(batch, b)
	}
	if err := ix.apply(0, batch, false); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := ix.Member(42); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Member allocates %v times", n)
	}
}

// BenchmarkMember is the index's cost per ring member.
func BenchmarkMember(b *testing.B) {
	ix := NewIndex()
	var batch [][]byte
	for range 1000 {
		e, _ := testLicense(b, "pro").MarshalBinary()
		batch = append(batch, e)
	}
	ix.apply(0, batch, false)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ix.Member(uint64(i % 1000))
	}
}

// TestIndexApplyAllOrNothing checks that a batch that fails part way (here,
// one plan too many) leaves the index as it was: no slot, plan or
// revocation of the batch stays, and the same start applies afterwards.
func TestIndexApplyAllOrNothing(t *testing.T) {
	ix := NewIndex()
	key := randomKey(t)
	license := func(plan string) []byte {
		e := testLicense(t, plan)
		e.P = key // the index does not check keys are distinct
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	revoke := func(target uint64) []byte {
		b, err := (&RevokeEntry{Target: target, Reason: RevokeRefund}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const plans = 1<<16 - 2 // one short of the most plans an index holds
	var batch [][]byte
	for i := range plans {
		batch = append(batch, license(fmt.Sprint("p", i)))
	}
	if err := ix.apply(0, batch, false); err != nil {
		t.Fatal(err)
	}
	day := testLicense(t, "x").NotBefore
	bad := [][]byte{revoke(0), license("x"), license("y")} // "y" is one plan too many
	if err := ix.apply(plans, bad, false); err == nil {
		t.Fatal("a batch with one plan too many was applied")
	}
	if ix.Size() != plans {
		t.Fatalf("after a failed batch the index has %d entries, want %d", ix.Size(), plans)
	}
	if m, err := ix.Member(0); err != nil || m.State != ringverify.Active {
		t.Fatalf("a failed batch's revocation stayed: %+v %v", m, err)
	}
	if v := ix.Valid("x", day); v != nil {
		t.Fatalf("a failed batch's plan stayed: %v", v)
	}
	good := [][]byte{revoke(0), license("x")}
	if err := ix.apply(plans, good, false); err != nil {
		t.Fatalf("the batch after a failed one: %v", err)
	}
	if m, _ := ix.Member(0); m.State != ringverify.Revoked {
		t.Fatalf("member 0 is %v after its revocation", m.State)
	}
	if v := ix.Valid("x", day); len(v) != 1 || v[0] != plans+1 {
		t.Fatalf("plan x valid: %v", v)
	}
}

// TestIndexAppendDecodesKeys checks that Append, for entries from outside
// the database, refuses a license whose key is not a ristretto255 element
// (the slot holds no license), where Sync's apply trusts enqueue's check;
// and that an entry that does not parse at all is a slot without a license
// for both.
func TestIndexAppendDecodesKeys(t *testing.T) {
	e := testLicense(t, "pro")
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	at := 3 + len(e.Plan) + 8 + KeySize // P follows the plan, the days and R
	if !bytes.Equal(b[at:at+KeySize], e.P[:]) {
		t.Fatal("the test's offset of P is wrong")
	}
	bad := bytes.Clone(b)
	for i := range KeySize {
		bad[at+i] = 0xff // not a canonical encoding
	}
	good, _ := testLicense(t, "pro").MarshalBinary()
	truncated := b[:10]
	ix := NewIndex()
	if err := ix.Append(0, [][]byte{bad, good, truncated}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Member(0); !errors.Is(err, ringverify.ErrUnknownMember) {
		t.Fatalf("Append kept a license with an invalid key: %v", err)
	}
	if _, err := ix.Member(1); err != nil {
		t.Fatalf("Append lost the valid license: %v", err)
	}
	if _, err := ix.Member(2); !errors.Is(err, ringverify.ErrUnknownMember) {
		t.Fatalf("a truncated entry is a license: %v", err)
	}
	if err := ix.Append(5, [][]byte{good}); err == nil {
		t.Fatal("Append from an index other than the size succeeded")
	}
	trusting := NewIndex()
	if err := trusting.apply(0, [][]byte{bad, truncated}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := trusting.Member(0); err != nil {
		t.Fatalf("Sync's apply is expected to keep the slot (enqueue checked it): %v", err)
	}
	if _, err := trusting.Member(1); !errors.Is(err, ringverify.ErrUnknownMember) {
		t.Fatalf("a truncated entry is a license: %v", err)
	}
}
