package bitcoin

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Evaluate runs the watcher's evaluate inside tx (for the tests): it
// re-decides orders ids at tip and moves them through orders.
func (b *Bitcoin) Evaluate(ctx context.Context, tx pgx.Tx, orders Orders, ids []string, tip int32, reason string) error {
	w := &watch{b: b, orders: orders}
	return w.evaluate(ctx, tx, ids, tip, reason)
}
