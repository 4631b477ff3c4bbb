package issuer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// scanFixture mints n outputs for other accounts with the owner's outputs at
// the positions mine, and a damaged one of the owner's at damaged (or -1).
func scanFixture(t testing.TB, owner *Account, n int, mine []int, damaged int) []Output {
	t.Helper()
	others := []*Account{mustAccount(t, "o1"), mustAccount(t, "o2"), mustAccount(t, "o3")}
	r := testRand("scan fixture")
	outs := make([]Output, n)
	for i := range outs {
		addr := others[i%len(others)].Address()
		if slices.Contains(mine, i) || i == damaged {
			addr = owner.Address()
		}
		p := testPayload(fmt.Sprintf("plan-%d", i))
		out, err := Mint(r, addr, p)
		if err != nil {
			t.Fatal(err)
		}
		if i == damaged {
			out.Sealed[0] ^= 1
		}
		outs[i] = out
	}
	return outs
}

func TestScanOutputs(t *testing.T) {
	owner := mustAccount(t, "owner")
	const n = 3000
	pick := rand.New(rand.NewPCG(1, 2))
	var mine []int
	for len(mine) < 12 {
		if i := pick.IntN(n); !slices.Contains(mine, i) {
			mine = append(mine, i)
		}
	}
	mine = append(mine, 0, n-1) // the edges of the slice and of the chunks
	slices.Sort(mine)
	damaged := 1000
	outs := scanFixture(t, owner, n, mine, damaged)
	// A view-tag collision among the others must not be reported.
	outs[1500] = viewTagCollision(t, owner, "scan")

	for _, workers := range []int{0, 1, 2, 7, 100} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			found := owner.ScanOutputs(outs, workers)
			var gotMine []int
			var gotDamaged []int
			for _, f := range found {
				if f.Err != nil {
					if f.License != nil {
						t.Errorf("position %d: both License and Err", f.Position)
					}
					gotDamaged = append(gotDamaged, f.Position)
					continue
				}
				gotMine = append(gotMine, f.Position)
				if want := fmt.Sprintf("plan-%d", f.Position); f.License.Payload.Plan != want {
					t.Errorf("position %d opened plan %q", f.Position, f.License.Payload.Plan)
				}
			}
			if !slices.Equal(gotMine, mine) {
				t.Errorf("found %v, want %v", gotMine, mine)
			}
			if !slices.Equal(gotDamaged, []int{damaged}) {
				t.Errorf("damaged %v, want [%d]", gotDamaged, damaged)
			}
		})
	}
	if found := mustAccount(t, "nobody").ScanOutputs(outs, 0); len(found) != 0 {
		t.Errorf("an unrelated account found %d outputs", len(found))
	}
	if found := owner.ScanOutputs(nil, 0); len(found) != 0 {
		t.Errorf("scanning nothing found %v", found)
	}
}
