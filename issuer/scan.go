package issuer

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Found is an output ScanOutputs recognised as the account's.
type Found struct {
	// Position is the output's position in the scanned slice.
	Position int
	// License is the opened license, with Index left zero for the caller to
	// set; nil if Err is set.
	License *License
	// Err is ErrDamagedPayload (possibly wrapped) if the output is the
	// account's but its payload does not open.
	Err error
}

// scanChunk is how many outputs a worker claims at a time: large enough that
// the shared counter is not contended, small enough to balance the load.
const scanChunk = 64

// ScanOutputs opens every output of outs that is the account's, on workers
// goroutines (runtime.GOMAXPROCS(0) if workers <= 0), and returns them in
// order of Position. Outputs that are not the account's are left out.
//
// Each output costs one X25519 and one SHA-512 block, without allocating;
// only view-tag hits (the account's outputs and 1 in 256 of the others) go on
// to recompute P. It is as constant time as Open.
func (acct *Account) ScanOutputs(outs []Output, workers int) []Found {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if max := (len(outs) + scanChunk - 1) / scanChunk; workers > max {
		workers = max
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		found []Found
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var shared [32]byte
			defer clear(shared[:])
			var local []Found
			for {
				start := int(next.Add(scanChunk)) - scanChunk
				if start >= len(outs) {
					break
				}
				end := min(start+scanChunk, len(outs))
				for i := start; i < end; i++ {
					if !acct.matchViewTag(&outs[i], &shared) {
						continue
					}
					lic, err := acct.openMatched(&outs[i], &shared)
					if err == ErrNotMine {
						continue
					}
					local = append(local, Found{Position: i, License: lic, Err: err})
				}
			}
			mu.Lock()
			found = append(found, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(found, func(i, j int) bool { return found[i].Position < found[j].Position })
	return found
}
