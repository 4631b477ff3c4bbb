package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ledger/poll/pgpoll"
	"github.com/licensed/licensed/ringverify"
)

// PollDeps serve the polls (packages ledger/poll and ledger/poll/pgpoll):
// the public API, the ballot box and the page listing them.
type PollDeps struct {
	Store *pgpoll.Store
	// Now is the clock polls open and close by (default time.Now).
	Now func() time.Time
	// BallotLimit rate-limits POST /v1/polls/{id}/ballots per client.
	BallotLimit RateLimit
}

func (d *PollDeps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// pollSummary is a poll in GET /v1/polls and on the polls page.
type pollSummary struct {
	ID       string    `json:"id"`
	Question string    `json:"question"`
	Options  []string  `json:"options"`
	Plans    []string  `json:"plans"`
	Opens    time.Time `json:"opens"`
	Closes   time.Time `json:"closes"`
	State    string    `json:"state"`
	Ballots  int64     `json:"ballots"`
	Counts   []int64   `json:"counts,omitempty"`
}

// maxPolls bounds GET /v1/polls and the page.
const maxPolls = 200

func (s *Server) summaries(c echo.Context) ([]pollSummary, error) {
	d := s.deps.Polls
	now := d.now()
	list, err := d.Store.Summaries(c.Request().Context(), maxPolls, func(p *poll.Poll) bool { return p.Revealed(now) })
	if err != nil {
		return nil, err
	}
	out := make([]pollSummary, 0, len(list))
	for _, l := range list {
		p := l.Poll
		out = append(out, pollSummary{ID: p.ID, Question: p.Question, Options: p.Options, Plans: p.Plans, Opens: p.Opens, Closes: p.Closes,
			State: p.State(now), Ballots: l.Ballots, Counts: l.Counts})
	}
	return out, nil
}

// listPolls is GET /v1/polls: {"polls": [...]}, the latest to close first.
func (s *Server) listPolls(c echo.Context) error {
	list, err := s.summaries(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"polls": list})
}

// getPoll is GET /v1/polls/{id}: the definition, its hash, the state, the
// number of ballots, the latest signed checkpoint and, once revealed, the
// counts.
func (s *Server) getPoll(c echo.Context) error {
	d := s.deps.Polls
	ctx := c.Request().Context()
	st, err := d.Store.Get(ctx, c.Param("id"))
	if err != nil {
		return pollRefusal(err)
	}
	signed, size, err := d.Store.Latest(ctx, st.Poll.ID)
	if err != nil {
		return err
	}
	now := d.now()
	v := poll.NewView(st.Poll, st.Definition, now)
	v.Ballots = size - 1
	v.Checkpoint = string(signed)
	if st.Poll.Revealed(now) {
		if v.Counts, err = d.Store.Counts(ctx, st); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, v)
}

// pollBallots is GET /v1/polls/{id}/ballots?start=N&limit=M: a page of the
// poll's log (leaf 0 is the definition) with inclusion proofs in the latest
// checkpoint; while a hidden tally is hidden, leaves are given as hashes.
func (s *Server) pollBallots(c echo.Context) error {
	d := s.deps.Polls
	ctx := c.Request().Context()
	st, err := d.Store.Get(ctx, c.Param("id"))
	if err != nil {
		return pollRefusal(err)
	}
	start, limit := int64(0), pgpoll.MaxPage
	if q := c.QueryParam("start"); q != "" {
		if start, err = strconv.ParseInt(q, 10, 64); err != nil || start < 0 {
			return Errorf(http.StatusBadRequest, "bad_query", "start must be a leaf index, 0 or more.")
		}
	}
	if q := c.QueryParam("limit"); q != "" {
		if limit, err = strconv.Atoi(q); err != nil || limit < 1 || limit > pgpoll.MaxPage {
			return Errorf(http.StatusBadRequest, "bad_query", fmt.Sprintf("limit must be 1 to %d.", pgpoll.MaxPage))
		}
	}
	pg, err := d.Store.Page(ctx, st.Poll.ID, start, limit, st.Poll.Revealed(d.now()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pg)
}

// castBallot is POST /v1/polls/{id}/ballots with a poll.Request: 201 with
// the receipt (the leaf, its index, the signed checkpoint and the
// inclusion proof), or a refusal with a stable code.
func (s *Server) castBallot(c echo.Context) error {
	d := s.deps.Polls
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, poll.MaxRequestSize)
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("A ballot is at most %d bytes of JSON.", poll.MaxRequestSize))
	}
	if err != nil {
		return Errorf(http.StatusBadRequest, "malformed", "The request body ended before its declared length; send it whole.")
	}
	req, err := poll.DecodeRequest(body)
	if err != nil {
		return pollRefusal(err)
	}
	var rc *pgpoll.Receipt
	cast := func() { rc, err = d.Store.Cast(r.Context(), c.Param("id"), req, d.now()) }
	if s.deps.Admission != nil {
		// A ballot is a ring verification: it waits for a core in the
		// admissions' fair queue, as an anonymous client, so ballots cannot
		// take the cores admissions share (nor all of them).
		ctx := admission.WithClient(r.Context(), "a/"+s.anonymousID(c), true)
		if qerr := s.deps.Admission.OnCore(ctx, cast); qerr != nil {
			return qerr
		}
	} else {
		cast()
	}
	if err != nil {
		return pollRefusal(err)
	}
	return c.JSON(http.StatusCreated, rc)
}

// pollStatus gives the refusals of polls their HTTP status; the others are
// 400 (404 for not_found).
var pollStatus = map[string]int{
	"not_found":     http.StatusNotFound,
	"already_voted": http.StatusConflict,
	"poll_closed":   http.StatusForbidden,
	"poll_not_open": http.StatusForbidden,
}

// pollRefusal turns a refusal of packages poll, pgpoll or ringverify into
// the client's answer; anything else (the database) is passed on.
func pollRefusal(err error) error {
	var c interface{ Code() string }
	if !errors.As(err, &c) {
		return err
	}
	var pe *poll.Error
	var ge *pgpoll.Error
	var re *ringverify.Error
	if !errors.As(err, &pe) && !errors.As(err, &ge) && !errors.As(err, &re) {
		return err
	}
	status, ok := pollStatus[c.Code()]
	if !ok {
		status = http.StatusBadRequest
	}
	msg := err.Error()
	for _, p := range []string{"pgpoll: ", "poll: ", "ringverify: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return Errorf(status, c.Code(), sentence(msg))
}

// pollsPage is GET /polls: the polls, open ones first, with their state.
func (s *Server) pollsPage(c echo.Context) error {
	list, err := s.summaries(c)
	if err != nil {
		return err
	}
	var open, other []pollSummary
	for _, p := range list {
		if p.State == "open" {
			open = append(open, p)
		} else {
			other = append(other, p)
		}
	}
	return s.render(c, http.StatusOK, "polls", "Polls", map[string]any{"Open": open, "Other": other})
}

// openPolls lists the open polls for the storefront; without polls, or
// when they cannot be read, the storefront shows none (and the failure is
// logged): buying must not depend on them.
func (s *Server) openPolls(c echo.Context) []pollSummary {
	if s.deps.Polls == nil {
		return nil
	}
	list, err := s.summaries(c)
	if err != nil {
		s.log.Warn("couldn't list the polls for the storefront", "err", err)
		return nil
	}
	var open []pollSummary
	for _, p := range list {
		if p.State == "open" {
			open = append(open, p)
		}
	}
	return open
}
