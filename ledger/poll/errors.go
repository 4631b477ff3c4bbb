package poll

import "errors"

// Error is a refusal a client can act on: a stable, machine-readable Code
// and a sentence that says what to fix.
type Error struct {
	code string
	msg  string
	err  error // the cause, such as a ringverify error
}

func (e *Error) Error() string { return "poll: " + e.msg }

// Code returns the stable reason, e.g. "poll_closed".
func (e *Error) Code() string { return e.code }

// Message is the sentence for humans, without the package prefix.
func (e *Error) Message() string { return e.msg }

func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.code == e.code && t.msg == ""
}

// Sentinels, matched with errors.Is (only the code is compared).
var (
	// ErrMalformed: an encoding or request that does not parse.
	ErrMalformed = &Error{code: "malformed"}
	// ErrInvalid: a poll definition that breaks a rule (sizes, times).
	ErrInvalid = &Error{code: "bad_poll"}
	// ErrWrongPoll: a ballot for another poll (its poll hash differs).
	ErrWrongPoll = &Error{code: "wrong_poll"}
	// ErrOption: an option number outside the poll's options.
	ErrOption = &Error{code: "bad_option"}
	// ErrRingTooSmall: fewer ring members than the poll's minimum.
	ErrRingTooSmall = &Error{code: "ring_too_small"}
	// ErrRingTooLarge: more ring members than the server takes (its bound
	// on the cost of a ballot; not a rule a recount applies).
	ErrRingTooLarge = &Error{code: "ring_too_large"}
	// ErrElectorate: a ring member beyond the poll's electorate (a ledger
	// index at or above Poll.Electorate).
	ErrElectorate = &Error{code: "not_in_electorate"}
	// ErrPlan: the ring's plan is not one the poll lets vote.
	ErrPlan = &Error{code: "plan_not_eligible"}
	// ErrNotOpen: the poll's opening time has not come.
	ErrNotOpen = &Error{code: "poll_not_open"}
	// ErrClosed: the poll has closed.
	ErrClosed = &Error{code: "poll_closed"}
	// ErrAlreadyVoted: the ballot's tag is already in the poll's log.
	ErrAlreadyVoted = &Error{code: "already_voted"}
	// ErrBackdated: in a recount, a ballot checked against fewer ledger
	// entries than a ballot logged before it.
	ErrBackdated = &Error{code: "ballot_backdated"}
	// ErrLedgerSize: a ballot checked against more ledger entries than the
	// verifier has.
	ErrLedgerSize = &Error{code: "ledger_size"}
)

func errorf(sentinel *Error, msg string) *Error { return &Error{code: sentinel.code, msg: msg} }

// With returns an error of e's code with the sentence msg, for refusals
// decided outside this package (the store's time and tag checks).
func (e *Error) With(msg string) *Error { return &Error{code: e.code, msg: msg} }
