package ledger

import (
	"runtime"
	"testing"
	"time"
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
		if err := ix.apply(uint64(start), batch); err != nil {
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
	if err := ix.apply(0, batch); err != nil {
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
	ix.apply(0, batch)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ix.Member(uint64(i % 1000))
	}
}
