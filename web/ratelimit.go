package web

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/licensed/licensed/ledger/admission"
)

// RateLimit bounds how often one client may call a group of endpoints. Limits
// are kept in memory only: a client's address is never written to the
// database or the logs, and even in memory it is keyed by an HMAC under a key
// made fresh at every start, so a memory dump does not list addresses.
//
// The memory is bounded (see placeAnonymous): past 100,000 clients of their
// own, a new client shares the limit of its network (IPv4 /24, IPv6 /48),
// past 25,000 of those that of a wider one (IPv4 /16, IPv6 /32), and past
// 25,000 of those one limit with every other such client. Clients idle long
// enough for their limit to be full again are forgotten, once a second
// while the table is full, so a flood from one large block of addresses
// fills its own share and leaves a newcomer from elsewhere a limit of its
// own or its network's.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 disables the limit.
	PerSecond float64
	// Burst is how many requests may come at once.
	Burst int
}

// rateLimiter returns the middleware enforcing rl for one group of routes.
func (s *Server) rateLimiter(name string, rl RateLimit) echo.MiddlewareFunc {
	mw, _ := s.rateLimiterStore(name, rl)
	return mw
}

// rateLimiterStore is rateLimiter, also returning the middleware's store
// (nil without a limit).
func (s *Server) rateLimiterStore(name string, rl RateLimit) (echo.MiddlewareFunc, *limiterStore) {
	if rl.PerSecond <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }, nil
	}
	if rl.Burst <= 0 {
		rl.Burst = int(math.Max(1, math.Ceil(rl.PerSecond)))
	}
	retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/rl.PerSecond))))
	store := newLimiterStore(s, rl)
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			// The store keys the address by its HMAC at once.
			return c.RealIP(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			s.rateLimited.WithLabelValues(name).Inc()
			c.Response().Header().Set("Retry-After", retryAfter)
			return Errorf(http.StatusTooManyRequests, "rate_limited", "Too many requests from this client; wait "+retryAfter+" s (see Retry-After) and try again.")
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return Errorf(http.StatusForbidden, "forbidden", "The client could not be identified.")
		},
	}), store
}

// anonymousID names an anonymous client in memory: the HMAC, under a key
// made at start, of its address (IPv6: its /64).
func (s *Server) anonymousID(c echo.Context) string {
	return s.netID(clientNet(c.RealIP()))
}

// netID is the HMAC, under a key made at start, of a client's address or
// network.
func (s *Server) netID(net string) string {
	m := hmac.New(sha256.New, s.clientKey[:])
	m.Write([]byte(net))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// The tiers of anonymous clients kept in memory: each under its own
// address (IPv6: /64), its network's, a wider network's, or all in one.
const (
	tierOwn = iota
	tierNet
	tierWide
	tierOverflow
	tiers
)

// tierCap is how many clients of tier are kept when own may be kept under
// their own address.
func tierCap(own, tier int) int {
	switch tier {
	case tierOwn:
		return own
	case tierOverflow:
		return 1
	}
	return max(1, own/4)
}

// widerNet is the network of ip one tier (tierNet: IPv4 /24, IPv6 /48) or
// two (tierWide: IPv4 /16, IPv6 /32) wider than clientNet's.
func widerNet(ip string, tier int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	bits := 48 - 16*(tier-tierNet) // IPv6 /48, /32
	if a.Is4() {
		bits = 24 - 8*(tier-tierNet) // IPv4 /24, /16
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}

// placeAnonymous returns the key (after the tier's prefix) and tier under
// which a new anonymous client at ip is kept, when own clients may be kept
// under their own address and counts are those kept per tier; kept
// reports whether a key is kept already (and may be shared).
//
// Under the bound, the client gets its own key. Past it, it shares its
// network's (IPv4 /24, IPv6 /48), past own/4 of those a wider network's
// (IPv4 /16, IPv6 /32), and past own/4 of those one key with every client
// there. So a flood from many /64s of one /32 fills the first two tiers
// with its own networks, then shares one /32 key, while a newcomer from
// another /32 still gets a key shared only with its own network.
func (s *Server) placeAnonymous(ip string, own int, counts *[tiers]int, kept func(key string) bool) (key string, tier int) {
	if counts[tierOwn] < own {
		return s.netID(clientNet(ip)), tierOwn
	}
	for tier := tierNet; tier <= tierWide; tier++ {
		key := strconv.Itoa(tier) + "/" + s.netID(widerNet(ip, tier))
		if kept(key) || counts[tier] < tierCap(own, tier) {
			return key, tier
		}
	}
	return "overflow", tierOverflow
}

// limiterStore is the store of rateLimiter: a token bucket per anonymous
// client, bounded like the admission gate's (see placeAnonymous).
type limiterStore struct {
	s     *Server
	limit rate.Limit
	burst int
	idle  time.Duration // unseen this long, a bucket is full again

	mu        sync.Mutex
	clients   map[string]*limitedClient
	counts    [tiers]int
	lastSweep time.Time
}

type limitedClient struct {
	lim  *rate.Limiter
	seen time.Time
	tier int
}

// maxLimitedClients bounds the clients each rateLimiter keeps under their
// own address (a variable for tests).
var maxLimitedClients = 100_000

func newLimiterStore(s *Server, rl RateLimit) *limiterStore {
	return &limiterStore{s: s, limit: rate.Limit(rl.PerSecond), burst: rl.Burst,
		idle:    time.Duration(min(max(180, float64(rl.Burst)/rl.PerSecond), 86400) * float64(time.Second)),
		clients: make(map[string]*limitedClient)}
}

// Allow takes a token from the bucket of the client at address ip.
func (st *limiterStore) Allow(ip string) (bool, error) {
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now, time.Minute)
	key := "0/" + st.s.netID(clientNet(ip))
	cl := st.clients[key]
	if cl == nil {
		if st.counts[tierOwn] >= maxLimitedClients {
			st.sweep(now, time.Second)
		}
		var tier int
		key, tier = st.s.placeAnonymous(ip, maxLimitedClients, &st.counts, func(k string) bool { return st.clients[k] != nil })
		if tier == tierOwn {
			key = "0/" + key
		}
		if cl = st.clients[key]; cl == nil {
			cl = &limitedClient{lim: rate.NewLimiter(st.limit, st.burst), tier: tier}
			st.clients[key] = cl
			st.counts[tier]++
		}
	}
	cl.seen = now
	return cl.lim.AllowN(now, 1), nil
}

// sweep forgets, at most once every, the clients whose buckets are full
// again. st.mu is held.
func (st *limiterStore) sweep(now time.Time, every time.Duration) {
	if now.Sub(st.lastSweep) < every {
		return
	}
	st.lastSweep = now
	for key, cl := range st.clients {
		if now.Sub(cl.seen) > st.idle {
			delete(st.clients, key)
			st.counts[cl.tier]--
		}
	}
}

// clientNet is what identifies an anonymous client: its IPv4 address, or
// the /64 network of its IPv6 address, since one subscriber is routinely
// given a whole /64 and could otherwise be a new client at every request.
func clientNet(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func newClientKey() (k [32]byte) {
	if _, err := rand.Read(k[:]); err != nil {
		panic(err)
	}
	return k
}

// Default limits of the admission endpoints, as licensed serve runs them.
// Anonymous callers get the strict ones; a relay key selects the relay
// ones (or its own, from its line in the keys file).
const (
	// DefaultAdmitRate and DefaultAdmitBurst are an anonymous client's
	// proofs per second and burst (one token per proof).
	DefaultAdmitRate  = 200
	DefaultAdmitBurst = 400
	// DefaultAdmitInFlight bounds the proofs one anonymous client may have
	// in flight; it is also the largest batch such a client may send. At
	// most that many of its proofs wait for the verifying cores, so an
	// honest request behind them waits for at most two verifications
	// (2 × 4 / 2 cores × 0.7 ms at ring 16).
	DefaultAdmitInFlight = 4
	// DefaultAdmitTotalInFlight bounds the proofs in flight over every
	// client (four full batches, about 0.7 s of work for two cores):
	// beyond it the server sheds load with 503 instead of making every
	// caller wait.
	DefaultAdmitTotalInFlight = 4 * admission.MaxBatch
	// DefaultRelayRate, DefaultRelayBurst and DefaultRelayInFlight are the
	// limits of a relay key whose line sets none.
	DefaultRelayRate     = 5000
	DefaultRelayBurst    = 8 * admission.MaxBatch
	DefaultRelayInFlight = 4 * admission.MaxBatch
)

// AdmitLimits are the cost-based limits of POST /v1/admit and
// /v1/admit/batch, on top of Config.AdmitLimit (an anonymous client's rate
// and burst, in proofs). A zero field is no bound.
//
// Every proof costs one token: a single admission one, a batch of n proofs
// n. One token is taken before the body is read; the rest once the batch is
// decoded, before anything is verified. A batch larger than the client's
// burst or in-flight bound can never pass and is answered 429
// batch_over_limit at once; a client out of tokens gets 429 rate_limited
// with Retry-After the wait for them, one with too many proofs in flight
// 429 too_many_in_flight, and when all clients together have Total proofs
// in flight, 503 overloaded. None of these reaches a verification.
type AdmitLimits struct {
	// InFlight bounds the proofs one anonymous client may have in flight
	// (received and not yet answered).
	InFlight int
	// Total bounds the proofs in flight over every client.
	Total int
	// Relay and RelayInFlight are the limits of a relay key whose line in
	// the keys file sets none.
	Relay         RateLimit
	RelayInFlight int
	// Keys are the relay keys; nil is none, and then every request that
	// carries a key is refused (401 relay_key_invalid), so that a relay
	// never silently gets the anonymous limits.
	Keys *RelayKeys
}

// RelayKeyPrefix starts every relay key.
const RelayKeyPrefix = "lrk_"

// RelayKey is one line of the relay keys file: a relay's name, the SHA-256
// of its key (the server never holds the key itself) and its limits (zero:
// AdmitLimits.Relay and RelayInFlight).
type RelayKey struct {
	Name     string
	Hash     [32]byte
	Limit    RateLimit
	InFlight int
	// NoRate is rate=0 on the line: no rate limit at all, rather than
	// AdmitLimits.Relay's.
	NoRate bool
}

// RelayKeys are the relay keys known to the server, by hash.
type RelayKeys struct {
	byHash map[[32]byte]*RelayKey
}

// Len returns the number of keys.
func (k *RelayKeys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byHash)
}

// lookup returns the key whose SHA-256 is that of key, or nil. The map is
// keyed by the hash of a 256-bit random key, so its timing tells an
// attacker nothing about any key.
func (k *RelayKeys) lookup(key string) *RelayKey {
	if k == nil {
		return nil
	}
	return k.byHash[sha256.Sum256([]byte(key))]
}

// NewRelayKey makes a relay key for name: 32 random bytes, base64url after
// RelayKeyPrefix. It returns the key, to give the relay (once: the server
// keeps only its hash), and the line for the relay keys file.
func NewRelayKey(name string) (key, line string, err error) {
	if !validRelayName(name) {
		return "", "", fmt.Errorf("relay name %q must be 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	key = RelayKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(key))
	return key, name + " sha256:" + hex.EncodeToString(h[:]), nil
}

// ParseRelayKeys reads a relay keys file: one key a line,
//
//	NAME sha256:HEX [rate=R] [burst=B] [inflight=N]
//
// where HEX is the SHA-256 of the key (64 hex digits) and the optional
// fields override the default relay limits for that key (rate in proofs per
// second, 0 for none). Blank lines and lines starting with '#' are skipped;
// names and hashes must be unique. Errors name the line.
func ParseRelayKeys(text []byte) (*RelayKeys, error) {
	keys := &RelayKeys{byHash: make(map[[32]byte]*RelayKey)}
	names := make(map[string]bool)
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseRelayKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("relay keys, line %d: %w", i+1, err)
		}
		if names[k.Name] {
			return nil, fmt.Errorf("relay keys, line %d: the name %q is used twice", i+1, k.Name)
		}
		if keys.byHash[k.Hash] != nil {
			return nil, fmt.Errorf("relay keys, line %d: the same key as %q", i+1, keys.byHash[k.Hash].Name)
		}
		names[k.Name] = true
		keys.byHash[k.Hash] = k
	}
	return keys, nil
}

func parseRelayKeyLine(line string) (*RelayKey, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, errors.New(`want "NAME sha256:HEX [rate=R] [burst=B] [inflight=N]"`)
	}
	k := &RelayKey{Name: f[0]}
	if !validRelayName(k.Name) {
		return nil, fmt.Errorf("the name %q must be 1 to 64 letters, digits, '.', '_' or '-'", k.Name)
	}
	h, ok := strings.CutPrefix(f[1], "sha256:")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != 32 {
		return nil, errors.New("the hash must be sha256: and 64 hex digits (licensed relay-key new prints the line)")
	}
	k.Hash = [32]byte(b)
	seen := make(map[string]bool)
	for _, opt := range f[2:] {
		name, val, ok := strings.Cut(opt, "=")
		if !ok || seen[name] {
			return nil, fmt.Errorf("%q: want rate=R, burst=B or inflight=N, each at most once", opt)
		}
		seen[name] = true
		switch name {
		case "rate":
			r, err := strconv.ParseFloat(val, 64)
			if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
				return nil, fmt.Errorf("rate %q must be a number of proofs per second, 0 or more", val)
			}
			k.Limit.PerSecond = r
			k.NoRate = r == 0
		case "burst", "inflight":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1<<30 {
				return nil, fmt.Errorf("%s %q must be a whole number from 1", name, val)
			}
			if name == "burst" {
				k.Limit.Burst = n
			} else {
				k.InFlight = n
			}
		default:
			return nil, fmt.Errorf("%q: want rate=R, burst=B or inflight=N", opt)
		}
	}
	return k, nil
}

func validRelayName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// admitGate enforces AdmitLimits: per-client token buckets charged by cost,
// and proofs in flight per client and in total. It holds clients in memory
// only, anonymous ones keyed by an HMAC of their address (see RateLimit).
type admitGate struct {
	s      *Server
	anon   RateLimit
	limits AdmitLimits

	mu        sync.Mutex
	clients   map[string]*admitClient
	counts    [tiers]int // anonymous clients kept, by tier
	inFlight  int
	lastSweep time.Time
}

// admitClient is one client's state: a relay key's or an address's.
type admitClient struct {
	relay    string        // the relay's name; "" for an anonymous client
	lim      *rate.Limiter // nil: no rate limit
	burst    int           // lim's burst, 0 without lim
	maxIn    int           // in-flight bound, 0: none
	inFlight int
	seen     time.Time
	idle     time.Duration // how long unseen until its bucket is full again
	tier     int           // an anonymous client's tier (see placeAnonymous); relays: -1
}

const admitClientKey = "admit_client"

// maxAdmitClients bounds the anonymous clients the admission gate keeps
// under their own address; past it new ones share their network's limits
// (see placeAnonymous; a variable for tests).
var maxAdmitClients = 100_000

func newAdmitGate(s *Server, anon RateLimit, limits AdmitLimits) *admitGate {
	return &admitGate{s: s, anon: anon, limits: limits, clients: make(map[string]*admitClient)}
}

// newClient makes the state of a client with limit rl and in-flight bound
// maxIn.
func newClient(relay string, rl RateLimit, maxIn int) *admitClient {
	c := &admitClient{relay: relay, maxIn: maxIn, idle: time.Minute}
	if rl.PerSecond > 0 {
		if rl.Burst <= 0 {
			rl.Burst = int(math.Max(1, math.Ceil(rl.PerSecond)))
		}
		c.lim, c.burst = rate.NewLimiter(rate.Limit(rl.PerSecond), rl.Burst), rl.Burst
		c.idle = max(c.idle, time.Duration(float64(rl.Burst)/rl.PerSecond*float64(time.Second)))
	}
	return c
}

// middleware identifies the client (a relay key, or the address), and takes
// the request's first token before its body is read.
func (g *admitGate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, relay, err := g.identify(c)
		if err != nil {
			return err
		}
		now := time.Now()
		g.mu.Lock()
		g.sweep(now, time.Minute)
		cl := g.clients[id]
		tier := -1
		if cl == nil && relay == nil {
			// Memory is bounded: past maxAdmitClients, a new anonymous
			// client shares its network's limits (see placeAnonymous),
			// once the idle ones are forgotten.
			if g.counts[tierOwn] >= maxAdmitClients {
				g.sweep(now, time.Second)
			}
			id, tier = g.s.placeAnonymous(c.RealIP(), maxAdmitClients, &g.counts, func(k string) bool { return g.clients["a/"+k] != nil })
			id = "a/" + id
			cl = g.clients[id]
		}
		if cl == nil {
			if relay != nil {
				cl = newClient(relay.Name, g.relayLimit(relay), cmp.Or(relay.InFlight, g.limits.RelayInFlight))
			} else {
				cl = newClient("", g.anon, g.limits.InFlight)
				g.counts[tier]++
			}
			cl.tier = tier
			g.clients[id] = cl
		}
		cl.seen = now
		err = g.take(c, cl, 1, now)
		g.mu.Unlock()
		if err != nil {
			return err
		}
		c.Set(admitClientKey, cl)
		// The verifying cores are shared fairly between clients.
		c.SetRequest(c.Request().WithContext(admission.WithClient(c.Request().Context(), id, relay == nil)))
		return next(c)
	}
}

func (g *admitGate) relayLimit(k *RelayKey) RateLimit {
	if k.NoRate || k.Limit.PerSecond > 0 || k.Limit.Burst > 0 {
		return RateLimit{PerSecond: k.Limit.PerSecond, Burst: cmp.Or(k.Limit.Burst, g.limits.Relay.Burst)}
	}
	return g.limits.Relay
}

// identify returns the client's id: its relay key's name, or the HMAC of its
// address. A request with an Authorization header must carry a known key.
func (g *admitGate) identify(c echo.Context) (string, *RelayKey, error) {
	auth := c.Request().Header.Get(echo.HeaderAuthorization)
	if auth == "" {
		return "a/" + g.s.anonymousID(c), nil, nil
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="admission"`)
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(key, RelayKeyPrefix) {
		return "", nil, Errorf(http.StatusUnauthorized, "relay_key_invalid", "Send a relay key as \"Authorization: Bearer "+RelayKeyPrefix+"…\", or no Authorization header to be served with the anonymous limits.")
	}
	k := g.limits.Keys.lookup(key)
	if k == nil {
		return "", nil, Errorf(http.StatusUnauthorized, "relay_key_invalid", "This relay key is not known to the server: check it with the operator (licensed relay-key new prints a key and the line of the server's keys file), or send no key to be served with the anonymous limits.")
	}
	return "r/" + k.Name, k, nil
}

// take takes n tokens from cl, or answers 429 with the wait for them. g.mu
// is held.
func (g *admitGate) take(c echo.Context, cl *admitClient, n int, now time.Time) error {
	if cl.lim == nil || n <= 0 {
		return nil
	}
	r := cl.lim.ReserveN(now, n)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		g.s.rateLimited.WithLabelValues("admit").Inc()
		wait := strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
		c.Response().Header().Set("Retry-After", wait)
		return Errorf(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("This client may admit %g proofs per second (a batch of n costs n); wait %s s (see Retry-After) and try again.", float64(cl.lim.Limit()), wait))
	}
	return nil
}

// mostProofs returns the most proofs the request's client may send in one
// batch, 0 for no bound.
func (g *admitGate) mostProofs(c echo.Context) int {
	cl, _ := c.Get(admitClientKey).(*admitClient)
	if cl == nil {
		return 0
	}
	return minPositive(cl.burst, cl.maxIn)
}

// acquire admits n proofs of the request into flight, taking the n−1 tokens
// the middleware did not, and returns the function that lets them out. It
// refuses, before anything is verified, a batch larger than the client may
// ever send, a client out of tokens or with too many proofs in flight, and
// any request while the server has its fill.
func (g *admitGate) acquire(c echo.Context, n int) (release func(), err error) {
	cl, _ := c.Get(admitClientKey).(*admitClient)
	if cl == nil { // routes without the middleware (tests)
		return func() {}, nil
	}
	if most := minPositive(cl.burst, cl.maxIn); most > 0 && n > most {
		g.s.rateLimited.WithLabelValues("admit").Inc()
		who := "an anonymous client"
		if cl.relay != "" {
			who = "this relay key"
		}
		return nil, Errorf(http.StatusTooManyRequests, "batch_over_limit", fmt.Sprintf("A batch from %s holds at most %d proofs (its burst and in-flight bound); this one has %d: split it.", who, most, n))
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if cl.maxIn > 0 && cl.inFlight+n > cl.maxIn {
		g.s.rateLimited.WithLabelValues("admit_in_flight").Inc()
		c.Response().Header().Set("Retry-After", "1")
		return nil, Errorf(http.StatusTooManyRequests, "too_many_in_flight", fmt.Sprintf("This client has %d proofs waiting for an answer, and may have %d: wait for them, then send more.", cl.inFlight, cl.maxIn))
	}
	if g.limits.Total > 0 && g.inFlight+n > g.limits.Total {
		g.s.rateLimited.WithLabelValues("admit_overloaded").Inc()
		c.Response().Header().Set("Retry-After", "1")
		return nil, Errorf(http.StatusServiceUnavailable, "overloaded", "The server is verifying all the proofs it can hold; try again in a second (see Retry-After).")
	}
	if err := g.take(c, cl, n-1, now); err != nil {
		return nil, err
	}
	cl.inFlight += n
	g.inFlight += n
	return func() {
		g.mu.Lock()
		cl.inFlight -= n
		g.inFlight -= n
		cl.seen = time.Now()
		g.mu.Unlock()
	}, nil
}

// sweep forgets, at most once every, the clients with nothing in flight
// whose buckets are full again: forgetting them loses nothing. g.mu is
// held.
func (g *admitGate) sweep(now time.Time, every time.Duration) {
	if now.Sub(g.lastSweep) < every {
		return
	}
	g.lastSweep = now
	for id, cl := range g.clients {
		if cl.inFlight == 0 && now.Sub(cl.seen) > cl.idle {
			delete(g.clients, id)
			if cl.tier >= 0 {
				g.counts[cl.tier]--
			}
		}
	}
}

func minPositive(a, b int) int {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
