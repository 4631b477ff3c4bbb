package admission_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
)

// TestTagStores runs one conformance suite against every TagStore.
func TestTagStores(t *testing.T) {
	stores := []struct {
		name string
		new  func(t *testing.T) admission.TagStore
	}{
		{"memory", func(*testing.T) admission.TagStore { return admission.NewMemoryTags() }},
		{"postgres", func(t *testing.T) admission.TagStore { return pgadmission.NewPostgresTags(pgtest.Pool(t)) }},
		{"postgres with linger", func(t *testing.T) admission.TagStore {
			s := pgadmission.NewPostgresTags(pgtest.Pool(t))
			s.Linger = time.Millisecond
			return s
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testTagStore(t, st.new(t)) })
	}
}

func use(scope string, day time.Time, counter uint32, tag byte, msg string) admission.Use {
	u := admission.Use{Scope: scope, Day: day, Counter: counter, MsgHash: sha256.Sum256([]byte(msg))}
	u.Tag[0] = tag
	return u
}

func freeUse(scope string, day time.Time, msg string) admission.Use {
	return admission.Use{Scope: scope, Day: day, Free: true, MsgHash: sha256.Sum256([]byte(msg))}
}

func testTagStore(t *testing.T, s admission.TagStore) {
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	scope := "net/" + today.Format(time.DateOnly)
	record := func(t *testing.T, uses ...admission.Use) []bool {
		t.Helper()
		got, err := s.Record(ctx, uses)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(uses) {
			t.Fatalf("%d answers for %d uses", len(got), len(uses))
		}
		return got
	}
	steps := []struct {
		name string
		uses []admission.Use
		want []bool
	}{
		{"first use", []admission.Use{use(scope, today, 0, 1, "a")}, []bool{true}},
		{"retry", []admission.Use{use(scope, today, 0, 1, "a")}, []bool{true}},
		{"other message", []admission.Use{use(scope, today, 0, 1, "b")}, []bool{false}},
		{"other counter", []admission.Use{use(scope, today, 1, 1, "b")}, []bool{true}},
		{"other tag", []admission.Use{use(scope, today, 0, 2, "b")}, []bool{true}},
		{"other scope", []admission.Use{use("net/other", today, 0, 1, "b")}, []bool{true}},
		{"mixed call", []admission.Use{use(scope, today, 0, 1, "a"), use(scope, today, 0, 1, "c"), freeUse(scope, today, "f"), use(scope, today, 6, 1, "d")}, []bool{true, false, true, true}},
		{"free retry", []admission.Use{freeUse(scope, today, "f")}, []bool{true}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			got := record(t, step.uses...)
			for i := range got {
				if got[i] != step.want[i] {
					t.Fatalf("answers %v, want %v", got, step.want)
				}
			}
		})
	}
	t.Run("one key twice in one call", func(t *testing.T) {
		// Either message may win, but only one, and the same message gets
		// the same answer.
		got := record(t, use(scope, today, 5, 9, "x"), use(scope, today, 5, 9, "y"), use(scope, today, 5, 9, "x"))
		if got[0] == got[1] || got[0] != got[2] {
			t.Fatalf("answers %v", got)
		}
	})
	t.Run("concurrent uses of one key", func(t *testing.T) {
		var admitted atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.Record(ctx, []admission.Use{use(scope, today, 7, 7, fmt.Sprint("m", i))})
				if err != nil {
					t.Error(err)
					return
				}
				if got[0] {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != 1 {
			t.Fatalf("%d admitted, want 1", admitted.Load())
		}
	})
	t.Run("prune", func(t *testing.T) {
		old := today.AddDate(0, 0, -3)
		oldScope := "net/" + old.Format(time.DateOnly)
		record(t, use(oldScope, old, 0, 1, "old"), freeUse(oldScope, old, "old free"))
		n, err := s.Prune(ctx, today.AddDate(0, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("pruned %d uses, want the 2 old ones", n)
		}
		// Today's uses are kept: a reuse is still refused.
		if got := record(t, use(scope, today, 0, 1, "b")); got[0] {
			t.Fatal("a pruned store forgot today's tag")
		}
		// The old key is free again (its scope is no longer admitted).
		if got := record(t, use(oldScope, old, 0, 1, "other")); !got[0] {
			t.Fatal("the old use is still there")
		}
	})
}
