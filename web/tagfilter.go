package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/tagfilter"
)

// tagFilterCacheFor is how long one filter is served to every client: its
// windows are aligned on the clock, so every client asking within one gets
// the same bytes, and a tag admitted now shows in the filter at most this
// long after.
const tagFilterCacheFor = 10 * time.Second

// newTagFilterHandler serves GET /v1/tags/filter, the public filter of the
// tags admitted in a scope (package ledger/tagfilter). It needs the
// admission service (for the network and the day) and the database that
// records its tags.
func (s *Server) newTagFilterHandler() *tagFilterHandler {
	return &tagFilterHandler{svc: s.deps.Admission, tags: pgadmission.NewPostgresTags(s.deps.DB), now: time.Now, entries: map[string]tagFilterEntry{}}
}

type tagFilterHandler struct {
	svc  *admission.Service
	tags *pgadmission.PostgresTags
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]tagFilterEntry // by scope; only current scopes
}

type tagFilterEntry struct {
	body    []byte
	expires time.Time
}

// serve is GET /v1/tags/filter?scope=S: the filter of the (counter, tag)
// keys admitted in S, one of yesterday's, today's or tomorrow's scopes
// (clients near midnight may still or already prove in them).
func (h *tagFilterHandler) serve(c echo.Context) error {
	scope := c.QueryParam("scope")
	now := h.now()
	if scope == "" {
		return Errorf(http.StatusBadRequest, "malformed", "Name the scope: GET /v1/tags/filter?scope="+h.svc.Scope(now)+".")
	}
	if scope != h.svc.Scope(now) && scope != h.svc.Scope(now.Add(-24*time.Hour)) && scope != h.svc.Scope(now.Add(24*time.Hour)) {
		return Errorf(http.StatusBadRequest, "scope_not_current", "The scope must be the current UTC day's, "+h.svc.Scope(now)+" (or the day before or after it): check the client's clock and network name.")
	}
	h.mu.Lock()
	e, ok := h.entries[scope]
	h.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		keys, err := h.tags.ScopeTags(c.Request().Context(), scope)
		if err != nil {
			return err
		}
		f, err := tagfilter.Build(scope, keys)
		if err != nil {
			return err
		}
		e = tagFilterEntry{body: f.Bytes(), expires: now.Truncate(tagFilterCacheFor).Add(tagFilterCacheFor)}
		h.mu.Lock()
		// The first filter of a window is the window's, for every client.
		if cur, ok := h.entries[scope]; ok && cur.expires.Equal(e.expires) {
			e = cur
		} else {
			for k, old := range h.entries {
				if !now.Before(old.expires) {
					delete(h.entries, k)
				}
			}
			h.entries[scope] = e
		}
		h.mu.Unlock()
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=10")
	return c.Blob(http.StatusOK, "application/octet-stream", e.body)
}
