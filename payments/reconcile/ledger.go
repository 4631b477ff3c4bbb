package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/licensed/licensed/ledger"
)

// LedgerStore reads what reconciliation needs from the ledger's store. It
// keeps the set of revoked indices in memory and reads only the entries
// appended since its last call.
func LedgerStore(s ledger.Store) Ledger { return &storeLedger{s: s, revoked: map[uint64]bool{}} }

type storeLedger struct {
	s       ledger.Store
	mu      sync.Mutex
	scanned int64 // entries read for revoke targets
	revoked map[uint64]bool
}

const readChunk = 1000

func (l *storeLedger) LicensesPerRound(ctx context.Context, from, to time.Time) (map[int64]int, error) {
	return l.count(ctx, func(r ledger.RoundInfo) bool { return !r.CommittedAt.Before(from) && r.CommittedAt.Before(to) })
}

func (l *storeLedger) LicensesInRounds(ctx context.Context, rounds []int64) (map[int64]int, error) {
	want := map[int64]bool{}
	for _, r := range rounds {
		want[r] = true
	}
	return l.count(ctx, func(r ledger.RoundInfo) bool { return want[r.Round] })
}

// count counts the license entries of the rounds keep selects.
func (l *storeLedger) count(ctx context.Context, keep func(ledger.RoundInfo) bool) (map[int64]int, error) {
	rounds, err := l.s.Rounds(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]int{}
	for _, r := range rounds {
		if !keep(r) {
			continue
		}
		n := 0
		for off := 0; off < r.Count; off += readChunk {
			raw, err := l.s.ReadEntries(ctx, r.First+int64(off), min(readChunk, r.Count-off))
			if err != nil {
				return nil, err
			}
			for _, b := range raw {
				e, err := ledger.ParseEntry(b)
				if err != nil {
					return nil, fmt.Errorf("entry of round %d does not decode (run licensed ledger fsck): %w", r.Round, err)
				}
				if e.Kind() == ledger.KindLicense {
					n++
				}
			}
		}
		out[r.Round] = n
	}
	return out, nil
}

func (l *storeLedger) EntryAt(ctx context.Context, index uint64) (isLicense, revoked bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp, err := l.s.Latest(ctx)
	if err != nil {
		return false, false, err
	}
	for l.scanned < cp.Size {
		raw, err := l.s.ReadEntries(ctx, l.scanned, int(min(readChunk, cp.Size-l.scanned)))
		if err != nil {
			return false, false, err
		}
		if len(raw) == 0 {
			break
		}
		for _, b := range raw {
			if e, err := ledger.ParseEntry(b); err == nil {
				if r, ok := e.(*ledger.RevokeEntry); ok {
					l.revoked[r.Target] = true
				}
			}
		}
		l.scanned += int64(len(raw))
	}
	if int64(index) >= cp.Size {
		return false, false, nil
	}
	raw, err := l.s.ReadEntries(ctx, int64(index), 1)
	if err != nil || len(raw) != 1 {
		return false, false, fmt.Errorf("couldn't read entry %d: %v", index, err)
	}
	e, err := ledger.ParseEntry(raw[0])
	if err != nil {
		return false, false, nil
	}
	return e.Kind() == ledger.KindLicense, l.revoked[index], nil
}

// BTCPayments lists the recorded, not dropped Bitcoin payments of the orders
// created in [from, to), for Chain.Payments.
func (b *Books) BTCPayments(ctx context.Context, from, to time.Time) ([]Payment, error) {
	rows, err := b.db.Query(ctx, `select p.order_id, split_part(p.outpoint, ':', 1) from btc_payments p
		join orders o on o.id = p.order_id
		where o.created_at >= $1 and o.created_at < $2 and not p.dropped order by p.seen_at, p.outpoint`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't list Bitcoin payments: %w", err)
	}
	var out []Payment
	defer rows.Close()
	for rows.Next() {
		var p Payment
		if err := rows.Scan(&p.OrderID, &p.TxID); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
