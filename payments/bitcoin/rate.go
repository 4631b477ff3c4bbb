package bitcoin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licensed/licensed/payments"
)

// ErrUnavailable is returned when an invoice can't be made now (the rate
// source does not answer): the HTTP API answers 503 btc_unavailable, and card
// orders are not affected.
var ErrUnavailable = payments.NewError("btc_unavailable", "Bitcoin payment is unavailable right now (no exchange rate); try again in a few minutes or pay by card.")

// A RateSource tells how much a bitcoin costs.
type RateSource interface {
	// Rate returns the price of one BTC in minor units of currency (cents
	// for "usd"), or an error if it does not know it now.
	Rate(ctx context.Context, currency string) (int64, error)
}

// StaticRate is a fixed price per BTC, in minor units, by currency: for
// regtest, tests, or an operator who reprices by hand.
type StaticRate map[string]int64

// Rate implements RateSource.
func (r StaticRate) Rate(_ context.Context, currency string) (int64, error) {
	if v, ok := r[strings.ToLower(currency)]; ok && v > 0 {
		return v, nil
	}
	return 0, fmt.Errorf("bitcoin: no static rate for %q", currency)
}

// ParseStaticRate reads "usd=50000.00,eur=46000" (major units per BTC).
func ParseStaticRate(s string) (StaticRate, error) {
	r := StaticRate{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		cur, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("bitcoin: bad static rate %q: write currency=price, e.g. usd=50000", part)
		}
		minor, err := parseMajor(val)
		if err != nil || minor <= 0 {
			return nil, fmt.Errorf("bitcoin: bad static rate %q: the price must be a positive number", part)
		}
		r[strings.ToLower(strings.TrimSpace(cur))] = minor
	}
	if len(r) == 0 {
		return nil, errors.New("bitcoin: empty static rate")
	}
	return r, nil
}

// parseMajor reads a decimal price in major units as minor units (×100,
// rounded), exactly.
func parseMajor(s string) (int64, error) {
	rat, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return 0, fmt.Errorf("bitcoin: bad number %q", s)
	}
	rat.Mul(rat, big.NewRat(100, 1))
	f, _ := rat.Float64()
	if math.IsInf(f, 0) || f > 1e15 {
		return 0, fmt.Errorf("bitcoin: number out of range %q", s)
	}
	return int64(math.Round(f)), nil
}

// Sats converts a price in minor units to satoshis at rate (minor units per
// BTC), rounding up so the operator is never paid less than the price.
func Sats(price, rate int64) (int64, error) {
	if price <= 0 || rate <= 0 {
		return 0, errors.New("bitcoin: price and rate must be positive")
	}
	n := new(big.Int).Mul(big.NewInt(price), big.NewInt(1e8))
	q, m := new(big.Int).QuoRem(n, big.NewInt(rate), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > 21e14 {
		return 0, errors.New("bitcoin: amount out of range")
	}
	return q.Int64(), nil
}

// TickerRate reads the price from an HTTP JSON ticker and caches it.
type TickerRate struct {
	// URL is fetched with GET; "{currency}" and "{CURRENCY}" are replaced by
	// the currency in lower and upper case. E.g.
	// https://api.coinbase.com/v2/prices/BTC-{CURRENCY}/spot with Path
	// "data.amount".
	URL string
	// Path is the dot-separated path of the price (major units per BTC) in
	// the JSON answer; a number or a numeric string.
	Path string
	// TTL is how long a price is reused (default 1 minute); MaxAge is how
	// old a price may get, when the ticker fails, before invoices are
	// refused (default 10 minutes).
	TTL, MaxAge time.Duration
	Client      *http.Client // default: 5 s timeout
	Now         func() time.Time

	mu    sync.Mutex
	cache map[string]cachedRate
}

type cachedRate struct {
	rate int64
	at   time.Time
}

// Rate implements RateSource.
func (t *TickerRate) Rate(ctx context.Context, currency string) (int64, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	ttl, maxAge := t.TTL, t.MaxAge
	if ttl <= 0 {
		ttl = time.Minute
	}
	if maxAge <= 0 {
		maxAge = 10 * time.Minute
	}
	currency = strings.ToLower(currency)
	t.mu.Lock()
	c, ok := t.cache[currency]
	t.mu.Unlock()
	if ok && now().Sub(c.at) < ttl {
		return c.rate, nil
	}
	rate, err := t.fetch(ctx, currency)
	if err != nil {
		if ok && now().Sub(c.at) < maxAge {
			return c.rate, nil
		}
		return 0, err
	}
	t.mu.Lock()
	if t.cache == nil {
		t.cache = map[string]cachedRate{}
	}
	t.cache[currency] = cachedRate{rate, now()}
	t.mu.Unlock()
	return rate, nil
}

func (t *TickerRate) fetch(ctx context.Context, currency string) (int64, error) {
	u := strings.NewReplacer("{currency}", currency, "{CURRENCY}", strings.ToUpper(currency)).Replace(t.URL)
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("bitcoin: bad ticker URL: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bitcoin: the rate ticker does not answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bitcoin: the rate ticker answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("bitcoin: couldn't read the rate ticker: %w", err)
	}
	return ParseTicker(body, t.Path)
}

// ParseTicker finds the price at path (dot-separated keys; numeric segments
// index arrays) in a JSON document and returns it in minor units per BTC.
func ParseTicker(body []byte, path string) (int64, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, fmt.Errorf("bitcoin: the rate ticker sent bad JSON: %w", err)
	}
	if path != "" {
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(x) {
					return 0, fmt.Errorf("bitcoin: no %q in the rate ticker's answer", path)
				}
				v = x[i]
			default:
				return 0, fmt.Errorf("bitcoin: no %q in the rate ticker's answer", path)
			}
		}
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, fmt.Errorf("bitcoin: %q in the rate ticker's answer is not a number", path)
	}
	minor, err := parseMajor(s)
	if err != nil || minor <= 0 {
		return 0, fmt.Errorf("bitcoin: %q in the rate ticker's answer is not a positive price", path)
	}
	return minor, nil
}
