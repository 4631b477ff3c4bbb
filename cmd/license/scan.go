package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
)

// Scan tuning: tiles fetched at once, and how often a long scan saves its
// progress.
const (
	scanFetchWorkers = 8
	scanSaveEvery    = 15 * time.Second
)

// scanBatchTiles is the number of entry tiles fetched and scanned per batch;
// scanAfterBatch, if set, runs after each batch (tests interrupt scans with
// them).
var (
	scanBatchTiles int64 = 32
	scanAfterBatch func()
)

func runScan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var quiet bool
	_, err := parseVerbFlags("license scan", "[flags]", `
Find your licenses on the public ledger. The scan fetches the ledger's signed
checkpoint, checks its signature with the pinned ledger key and that it
extends the checkpoint seen last time, then reads every entry added since the
last scan from the ledger's tiles, checking each one against the checkpoint,
and tries to open it with the account's view key (on every core). Licenses
found, and revocations of them, are stored in the account file. Interrupting
a scan keeps its progress; the next scan resumes where it stopped.`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.BoolVar(&quiet, "quiet", false, "no progress bar (there is none either when standard error is not a terminal)")
	})
	if err != nil {
		return err
	}
	api, err := newAPIClient(g.server)
	if err != nil {
		return err
	}
	c, k, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	defer unlock()
	acct, err := c.Account()
	if err != nil {
		return sayf("the account file holds an invalid seed; restore it from the seed phrase.")
	}
	l, err := auditLedger(ctx, api, &c.Ledger, g.ledgerKey)
	if err != nil {
		return err
	}
	start := c.Ledger.Scanned
	total := l.cp.Size - start
	var bar *progressbar.ProgressBar
	if f, ok := stderr.(*os.File); ok && !quiet && total > 0 && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("scanning"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("entries"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
		)
	}
	found, revoked, scanErr := scanLedger(ctx, l, acct, c, bar, stderr, func() error { return g.save(k, c) })
	if bar != nil {
		if scanErr == nil {
			bar.Finish() // leaves the final count and rate on the screen
		}
		fmt.Fprintln(stderr)
	}
	if err := g.save(k, c); err != nil {
		return err
	}
	if scanErr != nil {
		if errors.Is(scanErr, context.Canceled) {
			return sayf("scan interrupted after %d of %d entries; run 'license scan' again to resume.", c.Ledger.Scanned-start, total)
		}
		return scanErr
	}
	fmt.Fprintf(stdout, "Scanned %d new ledger entries (%d in all): %d new license(s) found, %d revoked; %d license(s) held.\n",
		total, l.cp.Size, found, revoked, len(c.Licenses))
	return nil
}

// scanLedger scans the entries from c.Ledger.Scanned to the checkpoint,
// adding found licenses to c and advancing c.Ledger.Scanned batch by batch;
// save is called now and then so an interrupted scan keeps its progress.
func scanLedger(ctx context.Context, l *auditedLedger, acct *issuer.Account, c *wallet.Contents, bar *progressbar.ProgressBar, warn io.Writer, save func() error) (found, revoked int, err error) {
	lastSave := time.Now()
	if c.Ledger.Scanned >= l.cp.Size {
		return 0, 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lastTile := (l.cp.Size - 1) / ledger.TileWidth
	// The next batch is fetched while the current one is scanned.
	type batch struct {
		first, last int64
		tiles       [][][]byte
		err         error
	}
	fetch := func(first int64) <-chan batch {
		ch := make(chan batch, 1)
		last := min(lastTile, first+scanBatchTiles-1)
		go func() {
			tiles, err := fetchEntryTiles(ctx, l, first, last)
			ch <- batch{first, last, tiles, err}
		}()
		return ch
	}
	pending := fetch(c.Ledger.Scanned / ledger.TileWidth)
	for c.Ledger.Scanned < l.cp.Size {
		if err := ctx.Err(); err != nil {
			return found, revoked, err
		}
		b := <-pending
		if b.err != nil {
			return found, revoked, b.err
		}
		if b.last < lastTile {
			pending = fetch(b.last + 1)
		}
		first, last, tiles := b.first, b.last, b.tiles
		var outs []issuer.Output
		var outIndex []uint64
		var outEntry []*ledger.LicenseEntry
		var revokes []uint64
		for i, bundle := range tiles {
			base := (first + int64(i)) * ledger.TileWidth
			for j, raw := range bundle {
				idx := base + int64(j)
				if idx < c.Ledger.Scanned {
					continue // before the resume point, within a tile scanned in part
				}
				e, err := ledger.ParseEntry(raw)
				if err != nil {
					return found, revoked, sayf("ledger entry %d is not a valid entry: the ledger is broken.", idx)
				}
				switch e := e.(type) {
				case *ledger.LicenseEntry:
					outs = append(outs, issuer.Output{R: e.R, P: e.P, ViewTag: e.ViewTag, Sealed: e.Sealed})
					outIndex = append(outIndex, uint64(idx))
					outEntry = append(outEntry, e)
				case *ledger.RevokeEntry:
					revokes = append(revokes, e.Target)
				}
			}
		}
		for _, f := range acct.ScanOutputs(outs, 0) {
			idx := outIndex[f.Position]
			if f.Err != nil {
				// Addressed to us but damaged: the issuer is broken. Say
				// so; the index is the user's own business.
				if bar != nil {
					bar.Clear()
				}
				fmt.Fprintf(warn, "warning: ledger entry %d is addressed to this account but its payload does not open; tell the issuer.\n", idx)
				continue
			}
			lic, pub := f.License, outEntry[f.Position]
			if lic.Payload.Plan != pub.Plan || !lic.Payload.NotBefore.Equal(pub.NotBefore) || !lic.Payload.NotAfter.Equal(pub.NotAfter) {
				// Relays go by the public fields; keep those, and say so.
				if bar != nil {
					bar.Clear()
				}
				fmt.Fprintf(warn, "warning: your license at ledger entry %d says plan %q from %s to %s, but the ledger shows plan %q from %s to %s, which relays go by; tell the issuer.\n",
					idx, lic.Payload.Plan, lic.Payload.NotBefore.Format(time.DateOnly), lic.Payload.NotAfter.Format(time.DateOnly),
					pub.Plan, pub.NotBefore.Format(time.DateOnly), pub.NotAfter.Format(time.DateOnly))
			}
			if c.AddLicense(wallet.License{
				Index: idx, Plan: pub.Plan, NotBefore: pub.NotBefore, NotAfter: pub.NotAfter,
				DailyQuota: lic.Payload.DailyQuota, Receipt: lic.Payload.Receipt[:],
				Key: lic.P.Bytes(), Secret: lic.Secret.Bytes(),
			}) {
				found++
			}
		}
		for _, target := range revokes {
			if own := c.License(target); own != nil && !own.Revoked {
				own.Revoked = true
				revoked++
			}
		}
		done := min((last+1)*ledger.TileWidth, l.cp.Size)
		if bar != nil {
			bar.Add64(done - c.Ledger.Scanned)
		}
		// The census counts a batch only with the progress that covers it,
		// so a batch cut short by an error is never counted twice.
		for _, e := range outEntry {
			c.CountLicense(e.Plan, dayNumber(e.NotBefore), dayNumber(e.NotAfter))
		}
		c.Ledger.Scanned = done
		if scanAfterBatch != nil {
			scanAfterBatch()
		}
		if time.Since(lastSave) > scanSaveEvery {
			if err := save(); err != nil {
				return found, revoked, err
			}
			lastSave = time.Now()
		}
	}
	return found, revoked, nil
}

// fetchEntryTiles fetches and verifies entry tiles first..last on a few
// connections at once.
func fetchEntryTiles(ctx context.Context, l *auditedLedger, first, last int64) ([][][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([][][]byte, last-first+1)
	errs := make([]error, len(out))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(scanFetchWorkers, len(out)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = l.entryTile(ctx, first+int64(i))
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	for i := range out {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	// The first error that is not a consequence of cancelling the others.
	var first0 error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if first0 == nil {
			first0 = err
		}
	}
	if first0 != nil {
		return nil, first0
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// licenseState is the state of a license at now, as far as the ledger says.
func licenseState(l *wallet.License, now time.Time) string {
	switch {
	case l.Revoked:
		return "revoked"
	case now.Before(l.NotBefore):
		return "not yet valid"
	case !now.Before(l.NotAfter):
		return "expired"
	}
	return "valid"
}

func runList(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	_, err := parseVerbFlags("license list", "[flags]", `
List the licenses found by 'license scan': ledger index, plan, validity,
daily quota, state (valid, not yet valid, expired, revoked) and the receipt
code to quote to the issuer. Suspensions are known to the server only: a
suspended license shows as valid here and fails at 'license prove'.`, args, stderr, g.define)
	if err != nil {
		return err
	}
	c, _, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	unlock()
	if len(c.Licenses) == 0 {
		fmt.Fprintf(stdout, "No licenses found (%d ledger entries scanned); run 'license scan' after buying one.\n", c.Ledger.Scanned)
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tPLAN\tFROM\tUNTIL\tQUOTA/DAY\tSTATE\tRECEIPT")
	for i := range c.Licenses {
		l := &c.Licenses[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Index, l.Plan, l.NotBefore.Format(time.DateOnly),
			l.NotAfter.Format(time.DateOnly), l.DailyQuota, licenseState(l, now), hex.EncodeToString(l.Receipt))
	}
	return tw.Flush()
}

// dayNumber is the number of whole days from 1970-01-01 UTC to t.
func dayNumber(t time.Time) uint32 {
	sec := t.Unix()
	if sec < 0 {
		return 0
	}
	return uint32(sec / 86400)
}
