package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRoutesResults: many concurrent calls share rounds, no round exceeds
// Max, and each call gets the results of its own items, in order.
func TestRoutesResults(t *testing.T) {
	var rounds, biggest atomic.Int64
	g := &Group[int, int]{Max: 64, Do: func(_ context.Context, items []int) ([]int, error) {
		rounds.Add(1)
		if n := int64(len(items)); n > biggest.Load() {
			biggest.Store(n)
		}
		time.Sleep(time.Millisecond) // a round trip
		out := make([]int, len(items))
		for i, x := range items {
			out[i] = x * 2
		}
		return out, nil
	}}
	var wg sync.WaitGroup
	for c := range 200 {
		wg.Go(func() {
			items := []int{c * 10, c*10 + 1, c*10 + 2}
			out, err := g.Submit(context.Background(), items)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range items {
				if out[i] != items[i]*2 {
					t.Errorf("call %d got %v for %v", c, out, items)
					return
				}
			}
		})
	}
	wg.Wait()
	if biggest.Load() > 64 {
		t.Fatalf("a round held %d items, Max is 64", biggest.Load())
	}
	if rounds.Load() >= 200 {
		t.Fatalf("%d rounds for 200 concurrent calls: nothing was merged", rounds.Load())
	}
}

// TestErrorsAndCancel: a failing round fails every call in it; a caller
// whose context ends stops waiting, and later calls still work.
func TestErrorsAndCancel(t *testing.T) {
	fail := errors.New("down")
	release := make(chan struct{})
	var calls atomic.Int64
	g := &Group[int, int]{Do: func(_ context.Context, items []int) ([]int, error) {
		if calls.Add(1) == 1 {
			<-release
			return nil, fail
		}
		return make([]int, len(items)), nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := g.Submit(ctx, []int{1}); done <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	failed := make(chan error, 1)
	go func() { _, err := g.Submit(context.Background(), []int{2}); failed <- err }()
	time.Sleep(10 * time.Millisecond)
	close(release)
	// The second call joined the round after the failing one.
	if err := <-failed; err != nil {
		t.Fatalf("a call in the round after the failure: %v", err)
	}
	g2 := &Group[int, int]{Do: func(context.Context, []int) ([]int, error) { return nil, fail }}
	if _, err := g2.Submit(context.Background(), []int{1}); !errors.Is(err, fail) {
		t.Fatalf("failing round: %v", err)
	}
	g3 := &Group[int, int]{Do: func(context.Context, []int) ([]int, error) { return []int{1, 2}, nil }}
	if _, err := g3.Submit(context.Background(), []int{1}); err == nil {
		t.Fatal("a round with the wrong number of results: no error")
	}
}
