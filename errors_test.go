package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// An error message says what refused or closed: a full topic is not a
// queue, and closing a subscription does not close the broker.
func TestErrorMessagesNameWhatFailed(t *testing.T) {
	ctx := context.Background()
	b := newTestBroker(t)
	reject := WithOverflow(OverflowReject)

	q := mustQueue(t, b, "q", WithCapacity(1), reject)
	publishOrFail(t, q, 1)
	tp := topicOrFail(t, b, "t", WithCapacity(2), reject)
	subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 2)
	grouped := topicOrFail(t, b, "g", WithCapacity(2), reject)
	subscribeOrFail(t, grouped, WithGroup("workers"))
	publishInts(t, grouped, 1, 2)
	closed := subscribeOrFail(t, tp)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		err      error
		sentinel error
		want     string
	}{
		{"full queue", q.Publish(ctx, NewMessage(2)), ErrFull,
			`herald: destination full: queue "q" holds 1 messages`},
		{"full topic", tp.Publish(ctx, NewMessage(3)), ErrFull,
			`herald: destination full: topic "t": a subscription is 2 messages behind`},
		{"full group", grouped.Publish(ctx, NewMessage(3)), ErrFull,
			`herald: destination full: topic "g": group "workers" holds 2 messages`},
		{"closed subscription, Receive", func() error { _, err := closed.Receive(ctx); return err }(), ErrClosed,
			"herald: subscription closed"},
		{"closed subscription, Consume", closed.Consume(ctx, func(context.Context, *Delivery) error { return nil }), ErrClosed,
			"herald: subscription closed"},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.sentinel) || tt.err.Error() != tt.want {
			t.Errorf("%s: got %v, want %q wrapping %v", tt.name, tt.err, tt.want, tt.sentinel)
		}
	}
}

func TestRouteErrorUnwrap(t *testing.T) {
	e := &RouteError{Exchange: "x", Delivered: 1, Failed: []DestError{
		{Dest: "a", Err: ErrFull}, {Dest: "b", Err: context.DeadlineExceeded},
	}}
	if !errors.Is(e, ErrFull) || !errors.Is(e, context.DeadlineExceeded) || errors.Is(e, ErrClosed) {
		t.Errorf("errors.Is through RouteError is wrong")
	}
	want := `herald: exchange "x": 2 of 3 destinations refused the message: "a": destination full; "b": context deadline exceeded`
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
}

// Errors that wrap another herald error do not repeat the "herald: "
// prefix.
func TestWrappedErrorsSayHeraldOnce(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	for _, err := range []error{
		x.Bind("q", "a..b"),
		x.Bind("q", "a b"),
		func() error { _, err := b.Queue("q", WithCapacity(-1)); return err }(),
		func() error { _, err := b.Queue("q", WithCapacity(3)); return err }(),
		x.Bind("missing", "a"),
	} {
		if err == nil {
			t.Error("a bad call returned nil")
			continue
		}
		if n := strings.Count(err.Error(), "herald:"); n != 1 {
			t.Errorf("error %q says herald: %d times, want once", err, n)
		}
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	boom := errors.New("boom")
	err := Permanent(boom)
	if !errors.Is(err, boom) {
		t.Fatal("errors.Is(Permanent(err), err) = false")
	}
	var perm *PermanentError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &perm) || perm.Err != boom {
		t.Fatalf("errors.As through a wrap found %v", perm)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Error() = %q, want it to say boom", err.Error())
	}
}
