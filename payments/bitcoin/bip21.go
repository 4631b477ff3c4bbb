package bitcoin

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// FormatBTC writes sats as a decimal amount of bitcoin without trailing
// zeros: 123000 → "0.00123".
func FormatBTC(sats int64) string {
	s := fmt.Sprintf("%d.%08d", sats/1e8, sats%1e8)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ParseBTC reads a decimal amount of bitcoin (at most 8 decimals) as sats.
func ParseBTC(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 8 || strings.ContainsAny(s, "+-eE ") {
		return 0, fmt.Errorf("bitcoin: bad amount %q", s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > 21e6 {
		return 0, fmt.Errorf("bitcoin: bad amount %q", s)
	}
	f := uint64(0)
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 8-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("bitcoin: bad amount %q", s)
		}
	}
	return int64(w*1e8 + f), nil
}

// URI is a BIP21 payment request.
type URI struct {
	Address string
	Sats    int64  // 0: no amount
	Label   string // optional
}

// String encodes u as "bitcoin:ADDRESS?amount=…&label=…".
func (u URI) String() string {
	var q []string
	if u.Sats > 0 {
		q = append(q, "amount="+FormatBTC(u.Sats))
	}
	if u.Label != "" {
		q = append(q, "label="+strings.ReplaceAll(url.QueryEscape(u.Label), "+", "%20"))
	}
	s := "bitcoin:" + u.Address
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

// ParseURI decodes a BIP21 URI. Unknown parameters are ignored unless they
// start with "req-", which BIP21 says a reader must refuse.
func ParseURI(s string) (URI, error) {
	rest, ok := strings.CutPrefix(s, "bitcoin:")
	if !ok {
		if len(s) >= 8 && strings.EqualFold(s[:8], "bitcoin:") {
			rest = s[8:]
		} else {
			return URI{}, errors.New("bitcoin: not a bitcoin: URI")
		}
	}
	addr, query, _ := strings.Cut(rest, "?")
	if addr == "" {
		return URI{}, errors.New("bitcoin: the URI has no address")
	}
	u := URI{Address: addr}
	seen := map[string]bool{}
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		v, err := url.PathUnescape(v)
		if err != nil {
			return URI{}, fmt.Errorf("bitcoin: bad escape in %q", k)
		}
		if seen[k] {
			return URI{}, fmt.Errorf("bitcoin: parameter %q repeated", k)
		}
		seen[k] = true
		switch {
		case k == "amount":
			if u.Sats, err = ParseBTC(v); err != nil {
				return URI{}, err
			}
		case k == "label":
			u.Label = v
		case strings.HasPrefix(k, "req-"):
			return URI{}, fmt.Errorf("bitcoin: required parameter %q not understood", k)
		}
	}
	return u, nil
}
