package issuer

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) this process has used, on
// all threads. Dividing work by it gives a per-core rate that other processes
// competing for the cores do not distort the way wall time does.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScan measures Open per output, which is what scanning costs:
//
//   - output=not-mine: another account's output whose view tag does not match
//     (255 in 256 of others' outputs): one X25519 and one SHA-512 block;
//   - output=viewtag-hit: another account's output whose view tag matches by
//     chance (1 in 256), which forces recomputing P;
//   - output=mine: the account's own output, opened in full;
//   - batch=4096: ScanOutputs over 4096 others' outputs on all cores, view-tag
//     hits included at their natural rate.
//
// outputs/s/core is the wall-clock throughput divided by the cores used;
// outputs/cpu-s is the number of outputs per second of CPU time this process
// used, the per-core rate on a machine other work is also using.
func BenchmarkScan(b *testing.B) {
	acct := mustAccount(b, "owner")
	other := mustAccount(b, "other")
	r := testRand("bench")
	mint := func(addr Address) Output {
		out, err := Mint(r, addr, testPayload("basic"))
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	var miss, mine []Output
	for len(miss) < 64 {
		out := mint(other.Address())
		var shared [32]byte
		if !acct.matchViewTag(&out, &shared) {
			miss = append(miss, out)
		}
	}
	for range 16 {
		mine = append(mine, mint(acct.Address()))
	}
	var hits []Output
	for i := range 8 {
		hits = append(hits, viewTagCollision(b, acct, fmt.Sprint("bench ", i)))
	}

	perOutput := func(name string, outs []Output, want error) {
		b.Run("output="+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu := cpuTime(b)
			for b.Loop() {
				_, err := Open(acct, outs[i%len(outs)])
				if err != want {
					b.Fatalf("Open: %v, want %v", err, want)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outputs/s/core")
			b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu).Seconds(), "outputs/cpu-s")
		})
	}
	perOutput("not-mine", miss, ErrNotMine)
	perOutput("viewtag-hit", hits, ErrNotMine)
	perOutput("mine", mine, nil)

	const batch = 4096
	outs := make([]Output, batch)
	for i := range outs {
		outs[i] = mint(other.Address())
	}
	b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime(b)
		for b.Loop() {
			if found := acct.ScanOutputs(outs, 0); len(found) != 0 {
				b.Fatal("found another's output")
			}
		}
		perSecond := float64(b.N) * batch / b.Elapsed().Seconds()
		b.ReportMetric(perSecond/float64(runtime.GOMAXPROCS(0)), "outputs/s/core")
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/batch, "ns/output")
		b.ReportMetric(float64(b.N)*batch/(cpuTime(b)-cpu).Seconds(), "outputs/cpu-s")
	})
}

func BenchmarkMint(b *testing.B) {
	addr := mustAccount(b, "owner").Address()
	r := testRand("mint")
	p := testPayload("basic")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Mint(r, addr, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	s := mustAccount(b, "owner").Address().String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAddress(s); err != nil {
			b.Fatal(err)
		}
	}
}
