package web

import (
	"bytes"
	"fmt"
	"html"
	"sort"
	"time"

	"github.com/licensed/licensed/payments/reconcile"
)

// chartPalette colours the plans of the revenue chart, in plan order.
var chartPalette = []string{"#2f6f9f", "#e0862f", "#3f9f5f", "#9f3f7f", "#7f7f2f", "#5f5fbf", "#bf5f5f", "#2f9f9f"}

// RevenueChart draws revenue per UTC day per plan for the days in [from,
// to) as a stacked bar chart in SVG, server side (no script, no external
// resource). Amounts are in the currency that has the most revenue; other
// currencies are left out and the caption says so.
func RevenueChart(rev []reconcile.Revenue, from, to time.Time) []byte {
	const (
		w, h                 = 720, 300
		left, right, top, bt = 70, 150, 20, 40
	)
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC()
	days := int(to.Sub(from).Hours()/24 + 0.5)
	if days < 1 {
		days = 1
	}
	if days > 366 {
		days = 366
	}
	// The main currency.
	byCur := map[string]int64{}
	for _, r := range rev {
		byCur[r.Currency] += r.Amount
	}
	cur := ""
	for c, a := range byCur {
		if cur == "" || a > byCur[cur] || (a == byCur[cur] && c < cur) {
			cur = c
		}
	}
	var plans []string
	seen := map[string]bool{}
	perDay := make([]map[string]int64, days)
	var maxDay int64
	for _, r := range rev {
		if r.Currency != cur {
			continue
		}
		d := int(r.Day.Sub(from).Hours() / 24)
		if d < 0 || d >= days {
			continue
		}
		if !seen[r.Plan] {
			seen[r.Plan] = true
			plans = append(plans, r.Plan)
		}
		if perDay[d] == nil {
			perDay[d] = map[string]int64{}
		}
		perDay[d][r.Plan] += r.Amount
	}
	sort.Strings(plans)
	for _, m := range perDay {
		var t int64
		for _, a := range m {
			t += a
		}
		maxDay = max(maxDay, t)
	}
	if maxDay == 0 {
		maxDay = 100
	}
	plotW, plotH := float64(w-left-right), float64(h-top-bt)
	barW := plotW / float64(days)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="Revenue per day per plan">`, w, h, w, h)
	b.WriteString(`<style>text{font:11px sans-serif;fill:#333}</style>`)
	fmt.Fprintf(&b, `<title>Revenue per day per plan, %s to %s</title>`, from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02"))
	// Axis and grid: 4 steps.
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y+4, html.EscapeString(formatMoney(maxDay*int64(i)/4, cur)))
	}
	for d := 0; d < days; d++ {
		x := float64(left) + float64(d)*barW
		y := float64(top) + plotH
		for i, p := range plans {
			a := perDay[d][p]
			if a == 0 {
				continue
			}
			bh := plotH * float64(a) / float64(maxDay)
			y -= bh
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				x+barW*0.1, y, barW*0.8, bh, chartPalette[i%len(chartPalette)],
				from.AddDate(0, 0, d).Format("2006-01-02"), html.EscapeString(p), html.EscapeString(formatMoney(a, cur)))
		}
		if days <= 14 || d%(days/7+1) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+barW/2, h-bt+16, from.AddDate(0, 0, d).Format("01-02"))
		}
	}
	for i, p := range plans {
		y := top + 14*i
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`,
			w-right+10, y, chartPalette[i%len(chartPalette)], w-right+24, y+9, html.EscapeString(p))
	}
	caption := "UTC days; settled, unrefunded orders"
	if len(byCur) > 1 {
		caption += "; other currencies than " + html.EscapeString(cur) + " not shown"
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, left, h-6, caption)
	b.WriteString(`</svg>`)
	return b.Bytes()
}
