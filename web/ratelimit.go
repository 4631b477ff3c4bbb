package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// RateLimit bounds how often one client may call a group of endpoints. Limits
// are kept in memory only: a client's address is never written to the
// database or the logs, and even in memory it is keyed by an HMAC under a key
// made fresh at every start, so a memory dump does not list addresses.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 disables the limit.
	PerSecond float64
	// Burst is how many requests may come at once.
	Burst int
}

// rateLimiter returns the middleware enforcing rl for one group of routes.
func (s *Server) rateLimiter(name string, rl RateLimit) echo.MiddlewareFunc {
	if rl.PerSecond <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	if rl.Burst <= 0 {
		rl.Burst = int(math.Max(1, math.Ceil(rl.PerSecond)))
	}
	retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/rl.PerSecond))))
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(rl.PerSecond), Burst: rl.Burst, ExpiresIn: 3 * time.Minute,
	})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			m := hmac.New(sha256.New, s.clientKey[:])
			m.Write([]byte(c.RealIP()))
			return hex.EncodeToString(m.Sum(nil)[:16]), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			s.rateLimited.WithLabelValues(name).Inc()
			c.Response().Header().Set("Retry-After", retryAfter)
			return Errorf(http.StatusTooManyRequests, "rate_limited", "Too many requests from this client; wait "+retryAfter+" s (see Retry-After) and try again.")
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return Errorf(http.StatusForbidden, "forbidden", "The client could not be identified.")
		},
	})
}

func newClientKey() (k [32]byte) {
	if _, err := rand.Read(k[:]); err != nil {
		panic(err)
	}
	return k
}
