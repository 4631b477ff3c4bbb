package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/payments/bitcoin"
)

// BitcoinDev enables the dev wallet pages under `licensed dev`: pay a
// Bitcoin invoice from the regtest dev wallet, and mine a block. Never enable
// it outside a regtest chain: it spends from a key kept in the clear.
type BitcoinDev struct {
	// Bitcoin is the Bitcoin method, for the invoices.
	Bitcoin *bitcoin.Bitcoin
	// Pay pays sats to addr from the dev wallet (which owns the coinbase of
	// the blocks Mine makes) and returns the transaction's id.
	Pay func(addr btcutil.Address, sats int64) (txid string, err error)
	// Mine mines n blocks to the wallet.
	Mine func(n int) ([]string, error)
}

var devBitcoinTmpl = template.Must(template.New("btc").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev wallet · licensed dev</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem}button{font-size:1rem;padding:.5rem 1rem;margin:.25rem 0}
.note{color:#666;font-size:.9rem}code{word-break:break-all}</style></head>
<body><h1>Dev wallet</h1>
<p class="note">Regtest only: this wallet's key is on disk in the clear and its coins are worthless.</p>
<div class="box">
<p>Order <code id="order-id">{{.OrderID}}</code> · <a href="/invoice/{{.OrderID}}">invoice page</a></p>
<p>Pay <b id="amount">{{.Amount}} BTC</b> to <code id="address">{{.Address}}</code></p>
<p>Received <b id="seen">{{.Seen}} BTC</b>, confirmed <b id="confirmed">{{.Confirmed}} BTC</b> (needs {{.Needed}} confirmation{{if ne .Needed 1}}s{{end}}); chain height {{.Tip}}</p>
<form method="post" action="/dev/btc/{{.OrderID}}/pay"><label>sats <input name="sats" value="{{.Due}}" size="12"></label>
<button id="pay" type="submit">Pay from dev wallet</button></form>
<form method="post" action="/dev/btc/mine"><input type="hidden" name="back" value="{{.OrderID}}">
<button id="mine" type="submit">Mine a block</button></form>
</div></body></html>
`))

type devBitcoinView struct {
	OrderID, Address, Amount, Seen, Confirmed string
	Due                                       int64
	Needed                                    int
	Tip                                       int32
}

func (s *Server) devBitcoinPage(c echo.Context) error {
	inv, err := s.deps.BitcoinDev.Bitcoin.Invoice(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	v := devBitcoinView{OrderID: inv.OrderID, Address: inv.Address, Amount: bitcoin.FormatBTC(inv.AmountSats),
		Seen: bitcoin.FormatBTC(inv.Verdict.Seen), Confirmed: bitcoin.FormatBTC(inv.Verdict.Confirmed),
		Due: max(inv.AmountSats-inv.Verdict.Seen, 0), Needed: inv.Confirmations, Tip: inv.Tip}
	if v.Due == 0 {
		v.Due = inv.AmountSats
	}
	var buf bytes.Buffer
	if err := devBitcoinTmpl.Execute(&buf, v); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// devBitcoinPay builds, signs and broadcasts a regtest transaction paying the
// invoice ("sats" in the form, default what is still due), then sends the
// browser back to the dev wallet page. A JSON client gets {"txid"}.
func (s *Server) devBitcoinPay(c echo.Context) error {
	d := s.deps.BitcoinDev
	inv, err := d.Bitcoin.Invoice(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	sats := max(inv.AmountSats-inv.Verdict.Seen, 0)
	if sats == 0 {
		sats = inv.AmountSats
	}
	if v := c.FormValue("sats"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 100_000_000 {
			return Errorf(http.StatusBadRequest, "bad_amount", "sats must be a whole number of satoshis between 1 and 100000000.")
		}
		sats = n
	}
	addr, err := btcutil.DecodeAddress(inv.Address, d.Bitcoin.Params())
	if err != nil {
		return err
	}
	txid, err := d.Pay(addr, sats)
	if err != nil {
		return Errorf(http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("The dev wallet could not pay: %v", err))
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, map[string]any{"txid": txid, "sats": sats})
	}
	return c.Redirect(http.StatusSeeOther, "/dev/btc/"+inv.OrderID)
}

// devBitcoinMine mines one block ("blocks" in the form: up to 10), then
// sends the browser back to the page it came from.
func (s *Server) devBitcoinMine(c echo.Context) error {
	n := 1
	if v := c.FormValue("blocks"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > 10 {
			return Errorf(http.StatusBadRequest, "bad_blocks", "blocks must be a number from 1 to 10.")
		}
		n = k
	}
	hashes, err := s.deps.BitcoinDev.Mine(n)
	if err != nil {
		return Errorf(http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("Could not mine: %v", err))
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, map[string]any{"blocks": hashes})
	}
	back := "/"
	if id := c.FormValue("back"); id != "" && validDevID(id) {
		back = "/dev/btc/" + id
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func wantsJSON(c echo.Context) bool {
	return c.Request().Header.Get("Accept") == "application/json"
}

// validDevID keeps the redirect on this site: order ids are lower-case
// base32 or hex.
func validDevID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
