package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/payments/reconcile"
)

// runReconcile is `licensed reconcile --from DAY --to DAY [--csv]`: it
// compares the database, the ledger and the processors for the orders
// created and the rounds committed in [from, to] (whole UTC days) and lists
// every exception. The exit status is 1 when there is any, for cron.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := &Main{Stdout: stdout}
	var fromS, toS string
	var asCSV bool
	if _, err := parseFlags("reconcile", args, stderr, func(fs *flag.FlagSet) {
		m.Config.register(fs, false)
		yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
		fs.StringVar(&fromS, "from", yesterday, "first UTC day, YYYY-MM-DD")
		fs.StringVar(&toS, "to", yesterday, "last UTC day, YYYY-MM-DD (included)")
		fs.BoolVar(&asCSV, "csv", false, "write the exceptions as CSV")
	}); err != nil {
		return err
	}
	from, err := time.Parse("2006-01-02", fromS)
	if err != nil {
		return usageError("--from must be a day as YYYY-MM-DD")
	}
	to, err := time.Parse("2006-01-02", toS)
	if err != nil {
		return usageError("--to must be a day as YYYY-MM-DD")
	}
	to = to.AddDate(0, 0, 1)
	if !from.Before(to) {
		return usageError("--from is after --to")
	}
	stopDev, err := m.Config.useDevDatabase(ctx)
	if err != nil {
		return err
	}
	defer stopDev()
	log, err := newLogger(m.Config, stderr)
	if err != nil {
		return err
	}
	m.Log = log
	pool, err := pgxpool.New(ctx, m.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bad database URL: %w", err)
	}
	defer pool.Close()
	m.DB = pool
	defer m.Close()
	r, err := m.reconciler(reconcile.NewBooks(pool))
	if err != nil {
		return err
	}
	rep, err := r.Run(ctx, from, to)
	if err != nil {
		return err
	}
	if asCSV {
		if err := reconcile.WriteExceptionsCSV(stdout, rep.Exceptions); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "reconciled %s to %s: %d orders, %d rounds; compared %v\n",
			from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02"), rep.Orders, rep.Rounds, rep.Sources)
		if len(rep.Exceptions) == 0 {
			fmt.Fprintln(stdout, "no exceptions")
		} else {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tORDER\tROUND\tREF\tDETAIL")
			for _, e := range rep.Exceptions {
				round := ""
				if e.Round != 0 {
					round = fmt.Sprint(e.Round)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.OrderID, round, e.Ref, e.Detail)
			}
			tw.Flush()
			fmt.Fprintf(stdout, "%d exceptions\n", len(rep.Exceptions))
		}
	}
	if len(rep.Exceptions) > 0 {
		return exitError(1)
	}
	return nil
}
