package herald

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldmq/herald/internal/match"
)

// Sentinel errors, for errors.Is rather than comparing strings. An error
// herald makes because it refused or failed a call wraps one of them (the
// error types below say which). Other errors are passed through as they
// are, or wrapped with no sentinel: ctx.Err() when the caller's context
// ends first; a [Codec]'s own error, from [Encode]; and the errors of
// user code (handlers, transforms, codecs) that [ReplyError],
// [PermanentError], [PanicError] and [BodyTypeError] carry. A
// *PanicError wraps no sentinel.
var (
	// ErrClosed is returned by every call on a broker, queue or delivery
	// source after Close, and by publishes after Shutdown has begun.
	ErrClosed = errors.New("herald: broker closed")
	// ErrFull is wrapped by the error a publish returns when a queue, or
	// a topic's slowest reader, has no room and the overflow policy is
	// OverflowReject; the error names the queue or topic. Request returns
	// an error wrapping it when an overflow policy dropped its request.
	ErrFull = errors.New("herald: destination full")
	// ErrUnroutable is returned when an exchange routes a message nowhere
	// and has no alternate exchange.
	ErrUnroutable = errors.New("herald: message unroutable")
	// ErrSettled is returned by Ack, Nack and Reject on a delivery that is
	// already settled, or that was redelivered after its ack timeout.
	ErrSettled = errors.New("herald: delivery already settled")
	// ErrNotFound is returned when a name is not declared on the broker.
	ErrNotFound = errors.New("herald: not found")
	// ErrExists is returned when a name is declared again with another
	// kind or other options.
	ErrExists = errors.New("herald: already declared differently")
	// ErrInvalid is returned for bad input: an empty or malformed name, a
	// nil message or handler, a negative or zero size where a positive one
	// is needed.
	ErrInvalid = errors.New("herald: invalid argument")
	// ErrLagged is wrapped by the *LagError a topic subscription returns
	// when it fell so far behind that messages it had not read were
	// overwritten.
	ErrLagged = errors.New("herald: subscription lagged")
	// ErrDuplicate is returned by a publish to a queue or topic with
	// WithDedup when a message with the same ID was published to it within
	// the window; the message is not added again.
	ErrDuplicate = errors.New("herald: duplicate message")
	// ErrNoResponders is returned by Request when nothing could ever
	// receive the request, so no reply could come (NATS's no-responders):
	// a topic with no subscription and no group. A queue holds a request
	// until a consumer comes, so Request to a queue waits instead; Request
	// returns an error wrapping it, naming the queue, when Purge removed
	// its request before a consumer took it.
	ErrNoResponders = errors.New("herald: no responders")
	// ErrRejected is wrapped by the [*ReplyError] Request returns when the
	// consumer rejected the request instead of answering it.
	ErrRejected = errors.New("herald: request rejected")
	// ErrBodyType is wrapped by the error a typed handler (see [Typed])
	// returns for a body it cannot use as its type: a value of another
	// type, a nil body or nil pointer, or encoded bytes that fail to decode.
	ErrBodyType = errors.New("herald: body of the wrong type")
	// ErrTransform is wrapped by the error a failing Transform causes.
	ErrTransform = errors.New("herald: transform failed")
	// ErrBadPattern is wrapped, with ErrInvalid, by the error Bind returns
	// for a malformed topic-exchange pattern such as "a..b" or "*x".
	ErrBadPattern = match.ErrBadPattern
	// ErrCorrupt is wrapped by the error of Open that finds a damaged
	// record in the middle of its write-ahead log (not the torn tail a
	// crash leaves, which Open cuts); the error names the file and offset.
	// See WithSkipCorrupt.
	ErrCorrupt = errors.New("herald: corrupt record in the durable log")
)

// errText is err's message without a leading "herald: ", for errors that
// wrap it in a message of their own, which starts with that already.
func errText(err error) string {
	return strings.TrimPrefix(err.Error(), "herald: ")
}

// because returns an error wrapping both sentinel and cause, for
// errors.Is, whose message reads "<sentinel>: <what>: <cause>" with the
// cause's own "herald: " dropped, so that the message says it once.
func because(sentinel, cause error, format string, args ...any) error {
	msg := sentinel.Error() + ": " + fmt.Sprintf(format, args...) + ": " + errText(cause)
	return &wrappedError{msg: msg, errs: []error{sentinel, cause}}
}

type wrappedError struct {
	msg  string
	errs []error
}

func (e *wrappedError) Error() string   { return e.msg }
func (e *wrappedError) Unwrap() []error { return e.errs }

// invalidf returns an error wrapping ErrInvalid with a message that names
// the bad input.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// PermanentError marks a handler error as not worth retrying: Consume
// rejects the delivery (dead-letters it, or drops and counts it) instead of
// redelivering. Create one with [Permanent].
type PermanentError struct{ Err error }

// Permanent wraps err so that a [Handler] returning it rejects the delivery
// instead of nacking it. Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Error returns the wrapped error's message, marked permanent.
func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is and errors.As see through it.
func (e *PermanentError) Unwrap() error { return e.Err }

// PanicError is the error a recovered handler panic is turned into; Value is
// what the handler panicked with.
type PanicError struct {
	Value any
	Stack []byte
}

// Error says what the handler panicked with.
func (e *PanicError) Error() string { return fmt.Sprintf("herald: handler panicked: %v", e.Value) }

// ErrAckTimeout is the cause (see context.Cause) with which herald cancels
// a handler's context when its delivery's ack timeout ([WithAckTimeout])
// passes and the message is redelivered, and the error recorded on a
// message that dies because its last delivery timed out.
var ErrAckTimeout = errors.New("herald: ack timeout")

// ErrUnsettled is the error recorded on a delivery that [Queue.All] nacked
// because its loop body left it unsettled (an [Observer]'s End hook sees
// it, and a dead letter's [HeaderDeathError] carries it).
var ErrUnsettled = errors.New("herald: delivery left unsettled by the loop body")

// LagError tells a topic subscription how many messages it missed because
// it fell more than the topic's capacity behind under OverflowDropOldest.
// Receive returns it once, before the oldest message still retained; the
// subscription then carries on from there. errors.Is(err, ErrLagged) holds.
type LagError struct{ Missed uint64 }

// Error says how many messages the subscription missed.
func (e *LagError) Error() string {
	return fmt.Sprintf("herald: subscription lagged: missed %d messages", e.Missed)
}

// Unwrap returns ErrLagged.
func (e *LagError) Unwrap() error { return ErrLagged }

// RouteError is returned by an exchange's Publish when some of the
// destinations it routed a message to refused it; all the others have the
// message. It wraps each refusal's cause, so errors.Is(err, ErrFull) tells
// that a queue was full.
type RouteError struct {
	Exchange  string      // the exchange published to
	Delivered int         // destinations that accepted the message
	Failed    []DestError // destinations that refused it, in delivery order
}

// DestError is one destination's refusal of a routed message.
type DestError struct {
	Dest string // the queue's or topic's name
	Err  error  // why it refused
}

// Error says which destinations refused the message and why.
func (e *RouteError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "herald: exchange %q: %d of %d destinations refused the message",
		e.Exchange, len(e.Failed), e.Delivered+len(e.Failed))
	for i, f := range e.Failed {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&sb, "%s%q: %s", sep, f.Dest, errText(f.Err))
	}
	return sb.String()
}

// Unwrap returns the causes of the refusals, for errors.Is and errors.As.
func (e *RouteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
