package heraldnats

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldmq/herald"
)

// Sentinel errors, for errors.Is. An error the bridge makes because it
// refused or failed a call wraps one of these, or one of herald's. The
// errors of NATS, JetStream (such as jetstream.ErrStreamNotFound) and a
// codec, and ctx.Err(), are passed through, wrapped with what the bridge
// was doing, for errors.Is to find.
var (
	// ErrClosed is returned by every call on a bridge or route after Close.
	ErrClosed = errors.New("heraldnats: bridge closed")
	// ErrInvalid is returned for bad input: a nil broker or connection, an
	// empty or malformed subject, stream or durable name, a bad option.
	// Errors wrapping it also wrap herald.ErrInvalid.
	ErrInvalid = errors.New("heraldnats: invalid argument")
	// ErrRemote is wrapped by the *RemoteError that ReplyError returns for
	// a reply that carries the far side's error instead of an answer.
	ErrRemote = errors.New("heraldnats: remote request failed")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrInvalid, herald.ErrInvalid}, args...)...)
}

// RemoteError is a failed request across the bridge: the far side could not
// get an answer from its herald destination (no responders, a full queue, a
// timeout), or NATS found no one serving the subject. Code names the cause
// as one of the Code* constants; Unwrap returns ErrRemote and the herald
// sentinel or context error of that code, so that
// errors.Is(err, herald.ErrNoResponders) holds across processes as it does
// within one.
type RemoteError struct {
	Subject string // the NATS subject of the request
	Code    string // one of the Code* constants, or "" for another error
	Message string // the far side's error text
}

// Codes of a RemoteError, carried in the HeaderErrorCode header.
const (
	CodeNoResponders = "no-responders" // herald.ErrNoResponders
	CodeNotFound     = "not-found"     // herald.ErrNotFound
	CodeFull         = "full"          // herald.ErrFull
	CodeUnroutable   = "unroutable"    // herald.ErrUnroutable
	CodeClosed       = "closed"        // herald.ErrClosed
	CodeTimeout      = "timeout"       // context.DeadlineExceeded
)

// Error says which request failed and why.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("heraldnats: request to %q failed: %s", e.Subject, e.Message)
}

// Unwrap returns ErrRemote and, for a known Code, the matching sentinel.
func (e *RemoteError) Unwrap() []error {
	errs := []error{ErrRemote}
	if s := codeErr(e.Code); s != nil {
		errs = append(errs, s)
	}
	return errs
}

var codes = []struct {
	code string
	err  error
}{
	{CodeNoResponders, herald.ErrNoResponders},
	{CodeNotFound, herald.ErrNotFound},
	{CodeFull, herald.ErrFull},
	{CodeUnroutable, herald.ErrUnroutable},
	{CodeClosed, herald.ErrClosed},
	{CodeTimeout, context.DeadlineExceeded},
}

func codeErr(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// errCode names err's cause for the HeaderErrorCode header.
func errCode(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// ReplyError returns the error carried by a reply that came back across the
// bridge (see Bridge.ExportRequests): a *RemoteError when the far side
// failed, nil for a real answer or a nil message.
func ReplyError(m *herald.Message) error {
	if m == nil || m.Headers == nil {
		return nil
	}
	msg, ok := m.Headers[HeaderError]
	if !ok {
		return nil
	}
	return &RemoteError{Subject: m.Headers[HeaderSubject], Code: m.Headers[HeaderErrorCode], Message: msg}
}
