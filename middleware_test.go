package herald

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// trace records events from concurrent handlers and middleware.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (tr *trace) add(e string) {
	tr.mu.Lock()
	tr.events = append(tr.events, e)
	tr.mu.Unlock()
}

func (tr *trace) take() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := strings.Join(tr.events, " ")
	tr.events = nil
	return s
}

// recorder returns middleware that records "name>" on entry and "name<"
// on exit, and counts how many handlers it wrapped.
func (tr *trace) recorder(name string, wraps *atomic.Int64) Middleware {
	return func(next Handler) Handler {
		wraps.Add(1)
		return func(ctx context.Context, d *Delivery) error {
			tr.add(name + ">")
			defer tr.add(name + "<")
			return next(ctx, d)
		}
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var tr trace
	var wraps atomic.Int64
	rec := func(name string) Middleware { return tr.recorder(name, &wraps) }
	b := newTestBroker(t, WithMiddleware(rec("b1"), rec("b2")), WithLogger(slog.New(slog.DiscardHandler)), WithMiddleware(rec("b3")))
	q := mustQueue(t, b, "q")
	handler := func(context.Context, *Delivery) error { tr.add("h"); return nil }

	startConsumer(t, q, handler,
		WithMiddleware(rec("c1"), rec("c2")), WithConcurrency(3), WithMiddleware(rec("c3")))
	publishOrFail(t, q, 1)
	waitIdle(t, b)
	const want = "b1> b2> b3> c1> c2> c3> h c3< c2< c1< b3< b2< b1<"
	if got := tr.take(); got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	if n := wraps.Load(); n != 6 {
		t.Fatalf("middleware wrapped %d handlers for one consumer of 3 goroutines, want 6 (each once)", n)
	}

	// The broker's middleware apply to every consumer, topics' too; the
	// consumer's to that consumer only.
	tp := topicOrFail(t, b, "t")
	sub := subscribeOrFail(t, tp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Consume(ctx, handler) }()
	if err := tp.Publish(context.Background(), NewMessage(2)); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, b)
	cancel()
	waitErr(t, done)
	if got, want := tr.take(), "b1> b2> b3> h b3< b2< b1<"; got != want {
		t.Fatalf("subscription order:\n got %s\nwant %s", got, want)
	}
}

func TestMiddlewareInvalid(t *testing.T) {
	pass := func(next Handler) Handler { return next }
	drop := func(Handler) Handler { return nil }
	h := func(context.Context, *Delivery) error { return nil }
	tests := []struct {
		name           string
		broker, consum []Middleware
		want           string
	}{
		{"nil consumer middleware", nil, []Middleware{pass, nil}, "herald: invalid argument: nil middleware"},
		{"nil broker middleware", []Middleware{nil}, []Middleware{pass}, "herald: invalid argument: nil middleware"},
		{"nil handler returned", []Middleware{pass}, []Middleware{drop}, "herald: invalid argument: middleware returned a nil handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBroker(t, WithMiddleware(tt.broker...))
			q := mustQueue(t, b, "q")
			err := q.Consume(context.Background(), h, WithMiddleware(tt.consum...))
			if !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Fatalf("Consume = %v, want %q", err, tt.want)
			}
		})
	}
}

// An option value may be reused and its argument slice changed afterwards:
// neither leaks into another consumer.
func TestMiddlewareOptionReuse(t *testing.T) {
	var tr trace
	var wraps atomic.Int64
	mws := []Middleware{tr.recorder("a", &wraps)}
	opt := WithMiddleware(mws...)
	mws[0] = tr.recorder("changed", &wraps)
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	h := func(context.Context, *Delivery) error { tr.add("h"); return nil }
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, h, opt)
		publishOrFail(t, q, 1)
		waitIdle(t, b)
		cancel()
		waitErr(t, done)
		if got := tr.take(); got != "a> h a<" {
			t.Fatalf("handled %s, want a> h a<", got)
		}
	}
}

// Settled tells middleware whether the chain inside it settled the
// delivery: false until a settle, true after any of the three.
func TestDeliverySettled(t *testing.T) {
	for name, settle := range map[string]func(*Delivery) error{
		"ack": (*Delivery).Ack, "nack": (*Delivery).Nack, "reject": (*Delivery).Reject,
	} {
		d := &Delivery{Message: NewMessage(1)}
		if d.Settled() {
			t.Fatalf("%s: a new delivery is settled", name)
		}
		if err := settle(d); err != nil || !d.Settled() {
			t.Fatalf("%s: returned %v, Settled() = %v; want nil and true", name, err, d.Settled())
		}
	}
	// A handler's result settles it too, after the chain returns.
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var inside []bool
		look := func(next Handler) Handler {
			return func(ctx context.Context, d *Delivery) error {
				err := next(ctx, d)
				inside = append(inside, d.Settled())
				return err
			}
		}
		startConsumer(t, q, func(_ context.Context, d *Delivery) error {
			if d.Body == "self" {
				return d.Ack()
			}
			return nil
		}, WithMiddleware(look))
		publishOrFail(t, q, "self")
		publishOrFail(t, q, "result")
		waitIdle(t, b)
		if len(inside) != 2 || !inside[0] || inside[1] {
			t.Fatalf("Settled() after the handler returned: %v, want [true false]", inside)
		}
	})
}
