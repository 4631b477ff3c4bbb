package anchor

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors are the anchorer's metrics, read from the database at each
// scrape: the size of the newest confirmed anchor, the anchors pending,
// and the satoshis left to the anchor key (its unspent coins as the
// anchorer knows them). Alert when the balance drops below a few anchors'
// fees, or when the confirmed size stops following the ledger.
func (a *Anchorer) Collectors() []prometheus.Collector {
	query := func(sql string) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var v float64
			if err := a.db.QueryRow(ctx, sql).Scan(&v); err != nil {
				return math.NaN()
			}
			return v
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "licensed_ledger_anchor_confirmed_size",
			Help: "Ledger size of the newest anchor confirmed in Bitcoin (-1 before the first).",
		}, query(`select coalesce(max(size), -1)::float8 from ledger_anchors where state = 'confirmed'`)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "licensed_ledger_anchor_pending",
			Help: "Anchors broadcast and not yet in a block.",
		}, query(`select count(*)::float8 from ledger_anchors where state = 'pending'`)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "licensed_ledger_anchor_key_sats",
			Help: "Satoshis left to the anchor key: its unspent coins as the anchorer knows them.",
		}, query(`select coalesce(sum(value), 0)::float8 from ledger_anchor_coins where spent_by is null`)),
	}
}
