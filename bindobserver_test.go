package herald

import (
	"context"
	"errors"
	"testing"
)

func exchangeOrFail(t testing.TB, b *Broker, name string, kind ExchangeKind, opts ...ExchangeOption) *Exchange {
	t.Helper()
	x, err := b.Exchange(name, kind, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func bindOrFail(t testing.TB, x *Exchange, dest, key string, opts ...BindOption) {
	t.Helper()
	if err := x.Bind(dest, key, opts...); err != nil {
		t.Fatalf("Bind(%q, %q): %v", dest, key, err)
	}
}

// drainBodies receives and acks every ready message of q and returns
// their bodies.
func drainBodies(t testing.TB, q *Queue) []any {
	t.Helper()
	var out []any
	for q.Len() > 0 {
		d := receiveOrFail(t, q)
		out = append(out, d.Body)
		settleOrFail(t, d.Ack)
	}
	return out
}

// An observer gets a copy of what it matches among the routed messages,
// and makes nothing routable.
func TestObserverBindingDoesNotRoute(t *testing.T) {
	b := newTestBroker(t)
	x := exchangeOrFail(t, b, "x", TopicExchange)
	orders := mustQueue(t, b, "orders")
	tap := mustQueue(t, b, "tap")
	bindOrFail(t, x, "orders", "orders.*")
	bindOrFail(t, x, "tap", "#", AsObserver())
	ctx := context.Background()
	if err := x.Publish(ctx, &Message{Key: "orders.new", Body: 1}); err != nil {
		t.Fatal(err)
	}
	if err := x.Publish(ctx, &Message{Key: "audit.login", Body: 2}); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("publish matched by the observer only: %v, want ErrUnroutable", err)
	}
	if got := drainBodies(t, orders); !equalAny(got, []any{1}) {
		t.Fatalf("orders got %v", got)
	}
	if got := drainBodies(t, tap); !equalAny(got, []any{1}) {
		t.Fatalf("observer got %v, want only the routed message", got)
	}
	// Unbound, the observer gets nothing more.
	if err := x.Unbind("tap", "#"); err != nil {
		t.Fatal(err)
	}
	if err := x.Publish(ctx, &Message{Key: "orders.new", Body: 3}); err != nil {
		t.Fatal(err)
	}
	if got := drainBodies(t, tap); len(got) != 0 {
		t.Fatalf("unbound observer got %v", got)
	}
	if err := x.Unbind("tap", "#"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unbind: %v", err)
	}
}

// A message only observers match goes to the alternate exchange, as if
// they were not there.
func TestObserverBindingAndAlternate(t *testing.T) {
	b := newTestBroker(t)
	x := exchangeOrFail(t, b, "x", DirectExchange, WithAlternate("alt"))
	alt := exchangeOrFail(t, b, "alt", FanoutExchange)
	mustQueue(t, b, "lost")
	tap := mustQueue(t, b, "tap")
	bindOrFail(t, alt, "lost", "")
	bindOrFail(t, x, "tap", "k", AsObserver())
	if err := x.Publish(context.Background(), &Message{Key: "k", Body: 1}); err != nil {
		t.Fatal(err)
	}
	if st := b.mustLookupQueue(t, "lost").Stats(); st.Published != 1 {
		t.Fatalf("alternate's queue: %+v", st)
	}
	if got := drainBodies(t, tap); !equalAny(got, []any{1}) {
		t.Fatalf("observer got %v", got)
	}
}

func (b *Broker) mustLookupQueue(t testing.TB, name string) *Queue {
	t.Helper()
	d, err := b.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.(*Queue)
}

// An observer on an exchange that another routes to sees what passes it.
func TestObserverBindingThroughExchanges(t *testing.T) {
	b := newTestBroker(t)
	front := exchangeOrFail(t, b, "front", FanoutExchange)
	inner := exchangeOrFail(t, b, "inner", HeadersExchange)
	mustQueue(t, b, "q")
	tap := mustQueue(t, b, "tap")
	bindOrFail(t, front, "inner", "")
	bindOrFail(t, inner, "q", "all")
	bindOrFail(t, inner, "tap", "red", AsObserver(), MatchAll(Headers{"color": "red"}))
	ctx := context.Background()
	for i, c := range []string{"red", "blue"} {
		if err := front.Publish(ctx, &Message{Headers: Headers{"color": c}, Body: i}); err != nil {
			t.Fatal(err)
		}
	}
	if got := drainBodies(t, tap); !equalAny(got, []any{0}) {
		t.Fatalf("observer got %v", got)
	}
}

// A (dest, key) is a plain binding or an observer, not both.
func TestObserverBindingConflicts(t *testing.T) {
	b := newTestBroker(t)
	x := exchangeOrFail(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	bindOrFail(t, x, "q", "a.*")
	if err := x.Bind("q", "a.*", AsObserver()); !errors.Is(err, ErrExists) {
		t.Fatalf("observer over a plain binding: %v", err)
	}
	bindOrFail(t, x, "q", "b.*", AsObserver())
	bindOrFail(t, x, "q", "b.*", AsObserver()) // again, the same: nil
	if got := x.Bindings(); len(got) != 2 || got[0].Observer || !got[1].Observer || got[1].Key != "b.*" {
		t.Fatalf("Bindings() = %+v", got)
	}
	if err := x.Bind("q", "b.*"); !errors.Is(err, ErrExists) {
		t.Fatalf("plain binding over an observer: %v", err)
	}
	if err := x.Bind("q", "a..b", AsObserver()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("malformed observer pattern: %v", err)
	}
	if err := x.Bind("missing", "#", AsObserver()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("observer of a missing destination: %v", err)
	}
}

// Publishing through an exchange with no observer allocates nothing more
// than before.
func TestObserverlessRouteAllocatesNothing(t *testing.T) {
	b := newTestBroker(t)
	x := exchangeOrFail(t, b, "x", TopicExchange)
	q := mustQueue(t, b, "q", WithCapacity(1<<20))
	bindOrFail(t, x, "q", "a.*")
	m := &Message{Key: "a.b", ID: "id"}
	m.stamp(b.wall)
	ctx := context.Background()
	x.put(ctx, m, false)
	if n := testing.AllocsPerRun(100, func() { x.put(ctx, m, false) }); n != 0 {
		t.Fatalf("%v allocations per routed publish", n)
	}
	_ = q
}
