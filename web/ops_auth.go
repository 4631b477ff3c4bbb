package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

// OpsConfig turns on the operator dashboard under /ops.
//
// There is one operator password, stored as a bcrypt hash. A login makes a
// server-side session (table ops_sessions, only the SHA-256 of the cookie's
// token is stored) with its own CSRF token; every POST under /ops must carry
// that token in the form field "csrf", and cross-site POSTs are refused on
// their Sec-Fetch-Site or Origin header as well.
//
// The session cookie is HttpOnly and SameSite=Strict, and Secure (with the
// __Host- prefix) when the request came over https or to a loopback host:
// browsers treat http://localhost and http://127.0.0.1 as potentially
// trustworthy and keep Secure cookies there (the browser tests check it with
// Chromium on 127.0.0.1). A plain-http, non-loopback deployment gets a
// non-Secure cookie: put the dashboard behind TLS.
//
// Failed logins slow down the next attempt, per client and globally: after
// loginFreeFailures failures a client must wait 1 s, then 2 s, 4 s, … (at
// most 15 min) before its next attempt is even checked; a client that has
// failed recently also waits for the global counter's backoff (larger
// thresholds), so a distributed guesser is slowed too. A client with no
// recent failure is never made to wait: nobody can lock the operator out by
// failing on purpose. Every failed login is in the audit log (no address:
// only that it failed). The counters are in memory, keyed like the other
// rate limits by an HMAC of the client address under a key made at start.
//
// The backoff is decided before a login queues for a password check, and a
// password being checked counts as a failure until it is known not to be
// one: a client has at most its free failures' worth of checks pending, and
// a client past them one, so no client holds more checks by sending its
// guesses at once. Waiting logins are checked fewest failures first: a
// client with no recent failure goes before every guesser that has failed,
// and one with a typo before every guesser that has failed twice, so a
// flood from many addresses that have each failed delays the operator's
// login by the checks already running, not by the queue. Logins with as
// few failures are checked first come, first served: a guesser with a new
// address for every guess still competes with the operator.
type OpsConfig struct {
	// PasswordHash is the bcrypt hash of the operator password.
	PasswordHash string
	// SessionTTL is how long a session lasts (default 12 h).
	SessionTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

const (
	opsCookie       = "licensed_ops"
	opsCookieSecure = "__Host-licensed_ops"
	loginCookie     = "licensed_ops_login"
	// loginFreeFailures failures per client are not slowed down.
	loginFreeFailures = 3
	// globalFreeFailures failures over all clients are not slowed down.
	globalFreeFailures = 50
	maxLoginDelay      = 15 * time.Minute
	// failures are forgotten after this long without a new one.
	loginFailureMemory = 30 * time.Minute
)

// Ops is the operator dashboard: its configuration and the in-memory
// counters of failed logins.
type Ops struct {
	cfg    OpsConfig
	logins loginGuard
	// compares bounds the password checks running at once to half the
	// processors (at least one): a bcrypt compare costs tens of
	// milliseconds of CPU, and a flood of guesses from many addresses must
	// not take every core from admission and payments.
	compares *checkSlots
}

// checkSlots is a semaphore whose waiters are served lowest rank first,
// then first come. A waiter's rank is its client's, taken when a slot
// frees: a login from a client that has failed meanwhile, or has more
// logins waiting, falls behind.
type checkSlots struct {
	rank func(client string) int

	mu      sync.Mutex
	free    int
	seq     uint64
	waiters []*slotWaiter
}

type slotWaiter struct {
	client  string
	seq     uint64
	granted bool
	ready   chan struct{}
}

func newCheckSlots(n int, rank func(client string) int) *checkSlots {
	return &checkSlots{free: n, rank: rank}
}

// acquire takes a slot for a login of client, waiting until ctx is done.
func (cs *checkSlots) acquire(ctx context.Context, client string) error {
	cs.mu.Lock()
	if cs.free > 0 {
		cs.free--
		cs.mu.Unlock()
		return nil
	}
	cs.seq++
	w := &slotWaiter{client: client, seq: cs.seq, ready: make(chan struct{})}
	cs.waiters = append(cs.waiters, w)
	cs.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	cs.mu.Lock()
	if w.granted { // meanwhile: hand the slot on
		cs.mu.Unlock()
		cs.release()
		return ctx.Err()
	}
	cs.waiters = slices.DeleteFunc(cs.waiters, func(x *slotWaiter) bool { return x == w })
	cs.mu.Unlock()
	return ctx.Err()
}

// release frees a slot for the waiter of lowest rank, if any. It ranks
// every waiter: they are bounded by the logins the guard lets through.
func (cs *checkSlots) release() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.waiters) == 0 {
		cs.free++
		return
	}
	best, bestRank := 0, cs.rank(cs.waiters[0].client)
	for i, w := range cs.waiters[1:] {
		r := cs.rank(w.client)
		if r < bestRank || r == bestRank && w.seq < cs.waiters[best].seq {
			best, bestRank = i+1, r
		}
	}
	w := cs.waiters[best]
	cs.waiters = slices.Delete(cs.waiters, best, best+1)
	w.granted = true
	close(w.ready)
}

// loginQueueWait is how long a login waits for a free password check
// before it is answered 503 login_busy.
const loginQueueWait = 3 * time.Second

// NewOps checks cfg and returns the dashboard component for Deps.Ops.
func NewOps(cfg OpsConfig) (*Ops, error) {
	if _, err := bcrypt.Cost([]byte(cfg.PasswordHash)); err != nil {
		return nil, fmt.Errorf("web: the operator password hash is not a bcrypt hash: %w", err)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	o := &Ops{cfg: cfg, logins: loginGuard{clients: map[string]*failures{}}}
	o.compares = newCheckSlots(max(1, runtime.GOMAXPROCS(0)/2), func(client string) int {
		return o.logins.rank(client, o.now())
	})
	return o, nil
}

func (o *Ops) now() time.Time {
	if o.cfg.Now != nil {
		return o.cfg.Now()
	}
	return time.Now()
}

// errLoginBusy answers a login that found no free password check in
// loginQueueWait.
var errLoginBusy = errors.New("web: every password check is busy")

// checkPassword compares password with the operator's hash, in constant
// time (bcrypt), once one of the bounded checks is free for a login of
// client (fewest failures first, see checkSlots); it waits at most
// loginQueueWait. A password over 1024 bytes is wrong without a check.
func (o *Ops) checkPassword(ctx context.Context, password, client string) (ok bool, err error) {
	if len(password) > 1024 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, loginQueueWait)
	defer cancel()
	if o.compares.acquire(ctx, client) != nil {
		return false, errLoginBusy
	}
	defer o.compares.release()
	return bcrypt.CompareHashAndPassword([]byte(o.cfg.PasswordHash), []byte(password)) == nil, nil
}

// HashPassword returns the bcrypt hash of password at the default cost.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// loginGuard counts failed logins and says how long the next attempt must
// wait. It never sleeps: a refused attempt answers 429 at once, so a guesser
// cannot pile up goroutines.
type loginGuard struct {
	mu      sync.Mutex
	clients map[string]*failures
	global  failures
}

type failures struct {
	n    int
	last time.Time
	// pending is the client's passwords admitted and not yet checked.
	pending int
}

// maxLoginClients bounds the clients the guard keeps in memory.
const maxLoginClients = 100_000

// loginDelay is how long after the last failure the next attempt must wait
// when there have been n failures and free are allowed without delay.
func loginDelay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	k := n - free
	if k > 20 {
		return maxLoginDelay
	}
	return min(time.Duration(math.Pow(2, float64(k)))*time.Second, maxLoginDelay)
}

// recent returns the failures f remembers at now: none once
// loginFailureMemory has passed since the last.
func (f *failures) recent(now time.Time) int {
	if f == nil || now.Sub(f.last) > loginFailureMemory {
		return 0
	}
	return f.n
}

func (f *failures) wait(now time.Time, free int) time.Duration {
	n := f.recent(now)
	if n == 0 {
		return 0
	}
	return max(0, f.last.Add(loginDelay(n, free)).Sub(now))
}

// loginBusy is the wait answered to a client that already has as many
// passwords being checked as it may.
const loginBusy = time.Second

// admit decides, before the login queues for a password check, whether
// client may have a password checked now. If so it counts the check as
// pending (end must follow). If not, it returns how long the client must
// wait, and whether that is only for its own pending check (busy) rather
// than a backoff.
//
// A pending check counts as a failure until it ends, so a client within
// its free failures may have as many checks pending as it has free
// failures left; a client past them may have one, once its backoff and
// the global one are over. A client within its free failures (none, or a
// typo or two) is never made to wait for the global backoff, whatever the
// others did: a flood of wrong passwords from elsewhere cannot lock the
// operator out.
func (g *loginGuard) admit(client string, now time.Time) (wait time.Duration, busy bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.clients[client]
	n, pending := f.recent(now), 0
	if f != nil {
		pending = f.pending
	}
	if n+pending >= loginFreeFailures {
		if pending > 0 {
			return loginBusy, true
		}
		if wait := max(f.wait(now, loginFreeFailures), g.global.wait(now, globalFreeFailures)); wait > 0 {
			return wait, false
		}
	}
	if f == nil {
		g.makeRoom(now)
		f = &failures{}
		g.clients[client] = f
	}
	f.pending++
	return 0, false
}

// rank is the place of client's logins in the queue for a password check:
// its recent failures and checks pending (its own among them). Lower goes
// first.
func (g *loginGuard) rank(client string, now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.clients[client]
	if f == nil {
		return 0
	}
	return f.recent(now) + f.pending
}

// check returns how long client must still wait before its next login
// attempt, not counting checks pending.
func (g *loginGuard) check(client string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.clients[client]
	if f.recent(now) < loginFreeFailures {
		return 0
	}
	return max(f.wait(now, loginFreeFailures), g.global.wait(now, globalFreeFailures))
}

// end ends a check admit let through: a failure, a success (which forgets
// the client's failures) or neither (no check was made).
func (g *loginGuard) end(client string, now time.Time, failed, succeeded bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.clients[client]
	if f != nil && f.pending > 0 {
		f.pending--
	}
	switch {
	case failed:
		g.failLocked(client, now)
	case succeeded:
		g.succeedLocked(client)
	default:
		if f != nil && f.pending == 0 && f.recent(now) == 0 {
			delete(g.clients, client)
		}
	}
}

// fail counts a failed login of client.
func (g *loginGuard) fail(client string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failLocked(client, now)
}

func (g *loginGuard) failLocked(client string, now time.Time) {
	f := g.clients[client]
	if f == nil {
		g.makeRoom(now)
		f = &failures{}
		g.clients[client] = f
	}
	if now.Sub(f.last) > loginFailureMemory {
		f.n = 0
	}
	f.n++
	f.last = now
	if now.Sub(g.global.last) > loginFailureMemory {
		g.global = failures{}
	}
	g.global.n++
	g.global.last = now
}

// succeed forgets the failures of client.
func (g *loginGuard) succeed(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.succeedLocked(client)
}

func (g *loginGuard) succeedLocked(client string) {
	if f := g.clients[client]; f != nil && f.pending > 0 {
		f.n = 0
	} else {
		delete(g.clients, client)
	}
}

// makeRoom bounds the memory a flood can take: at maxLoginClients it
// forgets the clients with nothing pending whose failures are forgotten
// anyway, and if that is not enough, every client. g.mu is held.
func (g *loginGuard) makeRoom(now time.Time) {
	if len(g.clients) < maxLoginClients {
		return
	}
	for id, f := range g.clients {
		if f.pending == 0 && f.recent(now) == 0 {
			delete(g.clients, id)
		}
	}
	if len(g.clients) >= maxLoginClients {
		g.clients = map[string]*failures{}
	}
}

// opsSession is the session of a logged-in operator.
type opsSession struct {
	// Label is a short non-reversible name of the session for the audit log.
	Label string
	CSRF  string
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func (s *Server) opsNow() time.Time {
	if s.deps.Pages != nil && s.deps.Pages.Ops != nil && s.deps.Pages.Ops.cfg.Now != nil {
		return s.deps.Pages.Ops.cfg.Now()
	}
	return time.Now()
}

// secureCookies reports whether cookies for this request may be Secure:
// https (see Server.https: TLS here, an https public URL, or a trusted
// proxy's X-Forwarded-Proto), or a loopback host, which browsers treat as
// trustworthy.
func (s *Server) secureCookies(c echo.Context) bool {
	r := c.Request()
	if s.https(c) {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) sessionCookieName(c echo.Context) string {
	if s.secureCookies(c) {
		return opsCookieSecure
	}
	return opsCookie
}

func (s *Server) setCookie(c echo.Context, name, value, path string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(c), SameSite: http.SameSiteStrictMode,
	})
}

// clientID is the in-memory key of the client: an HMAC of its address.
func (s *Server) clientID(c echo.Context) string {
	m := hmac.New(sha256.New, s.clientKey[:])
	m.Write([]byte("ops-login\x00" + clientNet(c.RealIP())))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// errCSRF is the answer to a POST without the session's CSRF token.
var errCSRF = Errorf(http.StatusForbidden, "csrf_failed", "The form is stale or was not sent from this site: reload the page and submit it again.")

// crossSite reports whether the browser says the request comes from another
// site. Browsers send Sec-Fetch-Site; older ones at least Origin.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		o = strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
		return o != r.Host
	}
	return false
}

// requireOps is the middleware of every /ops route but the login: it loads
// the session or sends the browser to the login page, and checks the CSRF
// token of every POST.
func (s *Server) requireOps(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		sess, err := s.loadSession(c)
		if err != nil {
			return err
		}
		if sess == nil {
			if c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusSeeOther, "/ops/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return Errorf(http.StatusUnauthorized, "unauthorized", "Log in at /ops/login first.")
		}
		if c.Request().Method == http.MethodPost {
			if crossSite(c.Request()) || subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(sess.CSRF)) != 1 {
				return errCSRF
			}
		}
		c.Set("ops", sess)
		return next(c)
	}
}

func (s *Server) loadSession(c echo.Context) (*opsSession, error) {
	ck, err := c.Cookie(s.sessionCookieName(c))
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, nil
	}
	h := tokenHash(ck.Value)
	var sess opsSession
	err = s.deps.DB.QueryRow(c.Request().Context(), `select csrf from ops_sessions where token_hash = $1 and expires_at > $2`,
		h, s.opsNow()).Scan(&sess.CSRF)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.Label = hex.EncodeToString(h[:4])
	return &sess, nil
}

func sessionOf(c echo.Context) *opsSession {
	sess, _ := c.Get("ops").(*opsSession)
	return sess
}

type loginView struct {
	CSRF    string
	Error   string
	WaitSec int
	// Next is where a successful login goes: the dashboard page the
	// operator was sent to the login from (see loginNext).
	Next string
}

// loginNext returns where to go after a login: next when it is a path of
// the dashboard on this server, else the dashboard's home. Anything else
// (another host, "//host", a scheme) is refused, so the login cannot be
// made an open redirect.
func loginNext(next string) string {
	if !strings.HasPrefix(next, "/ops") || strings.HasPrefix(next, "/ops/login") || strings.ContainsAny(next, "\\\r\n") {
		return "/ops"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || (u.Path != "/ops" && !strings.HasPrefix(u.Path, "/ops/")) || path.Clean(u.Path) != u.Path {
		return "/ops"
	}
	return u.RequestURI()
}

func (s *Server) opsLoginPage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if sess, err := s.loadSession(c); err == nil && sess != nil {
		return c.Redirect(http.StatusSeeOther, "/ops")
	}
	token := randomToken()
	s.setCookie(c, loginCookie, token, "/ops", 3600)
	return s.render(c, http.StatusOK, "ops_login", "Operator login", loginView{CSRF: token, Next: loginNext(c.QueryParam("next"))})
}

func (s *Server) opsLogin(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	now := s.opsNow()
	client := s.clientID(c)
	again := func(status int, msg string, wait time.Duration) error {
		token := randomToken()
		s.setCookie(c, loginCookie, token, "/ops", 3600)
		secs := int(math.Ceil(wait.Seconds()))
		if secs > 0 {
			c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
		}
		return s.render(c, status, "ops_login", "Operator login", loginView{CSRF: token, Error: msg, WaitSec: secs, Next: loginNext(c.FormValue("next"))})
	}
	ck, err := c.Cookie(loginCookie)
	if crossSite(c.Request()) || err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.FormValue("csrf"))) != 1 {
		return again(http.StatusForbidden, "The login form was stale: enter the password again.", 0)
	}
	logins := &s.deps.Pages.Ops.logins
	// Refused here, a client in backoff never waits for a check slot.
	wait, busy := logins.admit(client, now)
	if busy {
		s.rateLimited.WithLabelValues("ops_login").Inc()
		return again(http.StatusTooManyRequests, "A password from this client is already being checked: wait a second and try again.", wait)
	}
	if wait > 0 {
		s.rateLimited.WithLabelValues("ops_login").Inc()
		return again(http.StatusTooManyRequests, "Too many failed attempts: wait "+plural(strconv.Itoa(int(math.Ceil(wait.Seconds()))), "second")+" before trying again.", wait)
	}
	password := c.FormValue("password")
	ok, err := s.deps.Pages.Ops.checkPassword(c.Request().Context(), password, client)
	logins.end(client, now, err == nil && !ok, ok)
	if err != nil {
		s.rateLimited.WithLabelValues("ops_login_busy").Inc()
		return again(http.StatusServiceUnavailable, "The server is checking many passwords at once: try again in a few seconds.", 5*time.Second)
	}
	if !ok {
		s.log.Warn("operator login failed")
		if err := s.audit(c.Request().Context(), "", "login_failed", "", ""); err != nil {
			return err
		}
		wait := logins.check(client, now)
		msg := "Wrong password."
		if wait > 0 {
			msg = "Wrong password. Too many failed attempts: wait " + plural(strconv.Itoa(int(math.Ceil(wait.Seconds()))), "second") + " before trying again."
		}
		return again(http.StatusUnauthorized, msg, wait)
	}
	token := randomToken()
	ttl := s.deps.Pages.Ops.cfg.SessionTTL
	ctx := c.Request().Context()
	if _, err := s.deps.DB.Exec(ctx, `delete from ops_sessions where expires_at <= $1`, now); err != nil {
		return err
	}
	if _, err := s.deps.DB.Exec(ctx, `insert into ops_sessions (token_hash, csrf, created_at, expires_at) values ($1, $2, $3, $4)`,
		tokenHash(token), randomToken(), now, now.Add(ttl)); err != nil {
		return err
	}
	h := tokenHash(token)
	if err := s.audit(ctx, hex.EncodeToString(h[:4]), "login", "", ""); err != nil {
		return err
	}
	s.setCookie(c, loginCookie, "", "/ops", -1)
	s.setCookie(c, s.sessionCookieName(c), token, "/", int(ttl.Seconds()))
	s.log.Info("operator logged in")
	return c.Redirect(http.StatusSeeOther, loginNext(c.FormValue("next")))
}

func (s *Server) opsLogout(c echo.Context) error {
	sess := sessionOf(c)
	ck, _ := c.Cookie(s.sessionCookieName(c))
	ctx := c.Request().Context()
	if ck != nil {
		if _, err := s.deps.DB.Exec(ctx, `delete from ops_sessions where token_hash = $1`, tokenHash(ck.Value)); err != nil {
			return err
		}
	}
	if err := s.audit(ctx, sess.Label, "logout", "", ""); err != nil {
		return err
	}
	s.setCookie(c, s.sessionCookieName(c), "", "/", -1)
	return c.Redirect(http.StatusSeeOther, "/ops/login")
}

// audit appends an operator action to the audit log.
func (s *Server) audit(ctx context.Context, session, action, orderID, detail string) error {
	var oid *string
	if orderID != "" {
		oid = &orderID
	}
	_, err := s.deps.DB.Exec(ctx, `insert into ops_audit (at, session, action, order_id, detail) values ($1, $2, $3, $4, $5)`,
		s.opsNow(), session, action, oid, detail)
	if err != nil {
		return fmt.Errorf("web: couldn't write the audit log: %w", err)
	}
	return nil
}
