package herald

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/match"
)

func mustExchange(t testing.TB, b *Broker, name string, kind ExchangeKind, opts ...ExchangeOption) *Exchange {
	t.Helper()
	x, err := b.Exchange(name, kind, opts...)
	if err != nil {
		t.Fatalf("Exchange(%q, %v): %v", name, kind, err)
	}
	return x
}

func mustBind(t testing.TB, x *Exchange, dest, key string, opts ...BindOption) {
	t.Helper()
	if err := x.Bind(dest, key, opts...); err != nil {
		t.Fatalf("%s.Bind(%q, %q): %v", x.Name(), dest, key, err)
	}
}

func publishKey(x *Exchange, key string) error {
	return x.Publish(context.Background(), &Message{Key: key})
}

// receiveAll receives and acks every ready message of q and returns them. Publish
// is synchronous, so what a publish delivered is ready when it returns.
func receiveAll(t testing.TB, q *Queue) []*Message {
	t.Helper()
	var got []*Message
	for n := q.Len(); n > 0; n-- {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := q.Receive(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Receive from %q: %v", q.Name(), err)
		}
		d.Ack()
		got = append(got, d.Message)
	}
	return got
}

func TestExchangeKindString(t *testing.T) {
	for k, want := range map[ExchangeKind]string{
		DirectExchange: "direct", FanoutExchange: "fanout", TopicExchange: "topic",
		HeadersExchange: "headers", 0: "ExchangeKind(0)", 9: "ExchangeKind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("ExchangeKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestExchangeDeclare(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange, WithAlternate("alt"))
	if x.Name() != "x" || x.Kind() != TopicExchange {
		t.Fatalf("Name, Kind = %q, %v", x.Name(), x.Kind())
	}
	if again := mustExchange(t, b, "x", TopicExchange, WithAlternate("other"), WithAlternate("alt")); again != x {
		t.Error("redeclaring with the same kind and options returned another exchange")
	}
	mustQueue(t, b, "q")
	for _, c := range []struct {
		name string
		kind ExchangeKind
		opts []ExchangeOption
		want error
	}{
		{"x", DirectExchange, []ExchangeOption{WithAlternate("alt")}, ErrExists},
		{"x", TopicExchange, nil, ErrExists},
		{"x", TopicExchange, []ExchangeOption{WithAlternate("alt2")}, ErrExists},
		{"q", DirectExchange, nil, ErrExists},
		{"", DirectExchange, nil, ErrInvalid},
		{"a b", DirectExchange, nil, ErrInvalid},
		{"a.*", DirectExchange, nil, ErrInvalid},
		{strings.Repeat("n", MaxNameLen+1), DirectExchange, nil, ErrInvalid},
		{"y", 0, nil, ErrInvalid},
		{"y", HeadersExchange + 1, nil, ErrInvalid},
		{"y", DirectExchange, []ExchangeOption{nil}, ErrInvalid},
		{"y", DirectExchange, []ExchangeOption{WithAlternate("")}, ErrInvalid},
		{"y", DirectExchange, []ExchangeOption{WithAlternate("a#")}, ErrInvalid},
		{"y", DirectExchange, []ExchangeOption{WithAlternate("y")}, ErrInvalid},
		{"y", DirectExchange, []ExchangeOption{WithAlternate("q")}, ErrInvalid}, // a queue
	} {
		_, err := b.Exchange(c.name, c.kind, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("Exchange(%.20q, %v, %d options) = %v, want %v", c.name, c.kind, len(c.opts), err, c.want)
		}
	}
	if _, err := b.Queue("x"); !errors.Is(err, ErrExists) {
		t.Errorf("Queue on an exchange's name = %v, want ErrExists", err)
	}
	if _, err := b.Exchange("x", DirectExchange); err == nil || !strings.Contains(err.Error(), "topic exchange") {
		t.Errorf("kind clash error %v does not name the existing kind", err)
	}
	b.Close()
	if _, err := b.Exchange("z", DirectExchange); !errors.Is(err, ErrClosed) {
		t.Errorf("Exchange after Close = %v, want ErrClosed", err)
	}
}

func TestExchangeDeclareWhileShuttingDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		x := mustExchange(t, b, "x", FanoutExchange)
		q := mustQueue(t, b, "q")
		mustBind(t, x, "q", "")
		if err := publishKey(x, ""); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Shutdown(context.Background()) }()
		synctest.Wait() // Shutdown has begun and waits for q to empty
		if _, err := b.Exchange("y", DirectExchange); !errors.Is(err, ErrClosed) {
			t.Errorf("Exchange while shutting down = %v, want ErrClosed", err)
		}
		if err := x.Bind("q", "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Bind while shutting down = %v, want ErrClosed", err)
		}
		if err := publishKey(x, ""); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish while shutting down = %v, want ErrClosed", err)
		}
		receiveAll(t, q)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestDirectExchange(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", DirectExchange)
	q1, q2, q3, q4 := mustQueue(t, b, "q1"), mustQueue(t, b, "q2"), mustQueue(t, b, "q3"), mustQueue(t, b, "q4")
	mustBind(t, x, "q1", "a")
	mustBind(t, x, "q2", "b")
	mustBind(t, x, "q3", "a")
	mustBind(t, x, "q4", "*") // no wildcards in a direct exchange
	mustBind(t, x, "q4", "")
	for _, c := range []struct {
		key  string
		want [4]int
	}{
		{"a", [4]int{1, 0, 1, 0}},
		{"b", [4]int{0, 1, 0, 0}},
		{"*", [4]int{0, 0, 0, 1}},
		{"", [4]int{0, 0, 0, 1}},
		{"A", [4]int{}},
		{"a.b", [4]int{}},
		{"c", [4]int{}},
	} {
		err := publishKey(x, c.key)
		if (c.want == [4]int{}) != errors.Is(err, ErrUnroutable) || (err != nil && !errors.Is(err, ErrUnroutable)) {
			t.Errorf("Publish(%q) = %v", c.key, err)
		}
		got := [4]int{len(receiveAll(t, q1)), len(receiveAll(t, q2)), len(receiveAll(t, q3)), len(receiveAll(t, q4))}
		if got != c.want {
			t.Errorf("key %q: queues got %v, want %v", c.key, got, c.want)
		}
	}
}

func TestFanoutExchange(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", FanoutExchange)
	if err := publishKey(x, "k"); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Publish with no binding = %v, want ErrUnroutable", err)
	}
	qs := []*Queue{mustQueue(t, b, "q1"), mustQueue(t, b, "q2"), mustQueue(t, b, "q3")}
	for _, q := range qs {
		mustBind(t, x, q.Name(), "ignored")
	}
	mustBind(t, x, "q1", "another") // a second binding to q1
	for _, key := range []string{"", "k", "a.b", "#"} {
		if err := publishKey(x, key); err != nil {
			t.Fatalf("Publish(%q): %v", key, err)
		}
		for _, q := range qs {
			if got := receiveAll(t, q); len(got) != 1 || got[0].Key != key {
				t.Errorf("key %q: %s got %d messages, want 1", key, q.Name(), len(got))
			}
		}
	}
	if err := x.Unbind("q1", "ignored"); err != nil {
		t.Fatal(err)
	}
	publishKey(x, "k")
	if got := len(receiveAll(t, qs[0])); got != 1 {
		t.Errorf("q1, still bound with another key, got %d messages, want 1", got)
	}
}

func TestHeadersExchange(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", HeadersExchange)
	binds := []struct {
		name string
		opts []BindOption
	}{
		{"all", []BindOption{MatchAll(Headers{"a": "1", "b": "2"})}},
		{"any", []BindOption{MatchAny(Headers{"a": "1", "b": "2"})}},
		{"allEmpty", []BindOption{MatchAll(nil)}},
		{"anyEmpty", []BindOption{MatchAny(Headers{})}},
		{"default", nil}, // MatchAll(nil)
		{"emptyValue", []BindOption{MatchAll(Headers{"e": ""})}},
		{"last", []BindOption{MatchAny(Headers{"z": "1"}), MatchAll(Headers{"c": "3"})}},
	}
	qs := map[string]*Queue{}
	for _, bd := range binds {
		qs[bd.name] = mustQueue(t, b, bd.name)
		mustBind(t, x, bd.name, "some-key", bd.opts...)
	}
	for _, c := range []struct {
		h    Headers
		want []string
	}{
		{nil, []string{"allEmpty", "default"}},
		{Headers{}, []string{"allEmpty", "default"}},
		{Headers{"a": "1", "b": "2"}, []string{"all", "any", "allEmpty", "default"}},
		{Headers{"a": "1", "b": "2", "c": "3"}, []string{"all", "any", "allEmpty", "default", "last"}}, // extra headers
		{Headers{"a": "1"}, []string{"any", "allEmpty", "default"}},                                    // a missing header
		{Headers{"a": "1", "b": "9"}, []string{"any", "allEmpty", "default"}},                          // a wrong value
		{Headers{"a": "2", "b": "9"}, []string{"allEmpty", "default"}},
		{Headers{"A": "1", "B": "2"}, []string{"allEmpty", "default"}}, // names are case-sensitive
		{Headers{"e": ""}, []string{"allEmpty", "default", "emptyValue"}},
		{Headers{"z": "1"}, []string{"allEmpty", "default"}}, // MatchAny replaced by MatchAll
	} {
		err := x.Publish(context.Background(), &Message{Key: "some-key", Headers: c.h})
		if err != nil {
			t.Fatalf("Publish(%v): %v", c.h, err)
		}
		var got []string
		for _, bd := range binds {
			switch n := len(receiveAll(t, qs[bd.name])); n {
			case 0:
			case 1:
				got = append(got, bd.name)
			default:
				t.Errorf("headers %v: %s got %d messages", c.h, bd.name, n)
			}
		}
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("headers %v reached %v, want %v", c.h, got, c.want)
		}
	}
}

func TestHeadersExchangeUnroutable(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", HeadersExchange)
	mustQueue(t, b, "q")
	mustBind(t, x, "q", "", MatchAny(nil))
	err := x.Publish(context.Background(), &Message{Headers: Headers{"a": "1"}})
	if !errors.Is(err, ErrUnroutable) || !strings.Contains(err.Error(), "map[a:1]") {
		t.Errorf("Publish = %v, want ErrUnroutable naming the headers", err)
	}
}

func TestHeadersBindings(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", HeadersExchange)
	q := mustQueue(t, b, "q")
	h := Headers{"a": "1"}
	mustBind(t, x, "q", "k1", MatchAll(h))
	h["a"] = "changed" // Bind copied h
	mustBind(t, x, "q", "k1", MatchAll(Headers{"a": "1"}))
	if err := x.Bind("q", "k1", MatchAny(Headers{"a": "1"})); !errors.Is(err, ErrExists) {
		t.Errorf("rebinding (q, k1) with MatchAny = %v, want ErrExists", err)
	}
	if err := x.Bind("q", "k1", MatchAll(Headers{"a": "2"})); !errors.Is(err, ErrExists) {
		t.Errorf("rebinding (q, k1) with other headers = %v, want ErrExists", err)
	}
	// Another key names another binding; both match, q gets the message once.
	mustBind(t, x, "q", "k2", MatchAny(Headers{"b": "2", "a": "1"}))
	if err := x.Publish(context.Background(), &Message{Headers: Headers{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(receiveAll(t, q)); n != 1 {
		t.Errorf("q got %d messages through two matching bindings, want 1", n)
	}
	for _, opt := range []BindOption{MatchAll(Headers{"x-match": "any"}), MatchAny(Headers{"x-death-reason": "expired"})} {
		if err := x.Bind("q", "k3", opt); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "x-") {
			t.Errorf("binding an x- header = %v, want ErrInvalid", err)
		}
	}
	for _, kind := range []ExchangeKind{DirectExchange, FanoutExchange, TopicExchange} {
		y := mustExchange(t, b, "y-"+kind.String(), kind)
		for _, opt := range []BindOption{MatchAll(nil), MatchAny(Headers{"a": "1"})} {
			if err := y.Bind("q", "k", opt); !errors.Is(err, ErrInvalid) {
				t.Errorf("%v exchange: Bind with a headers option = %v, want ErrInvalid", kind, err)
			}
		}
	}
}

func TestBindErrors(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	for _, p := range []string{"a..b", "*x", "a.#b", ".a", "a.", ".", "#a", "a*", "**", "##", "a.*b.c", "a.b#"} {
		err := x.Bind("q", p)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, match.ErrBadPattern) {
			t.Errorf("Bind(q, %q) = %v, want ErrInvalid and match.ErrBadPattern", p, err)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("Bind(q, %q) = %v, which does not name the pattern", p, err)
		}
		if err := x.Unbind("q", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unbind(q, %q) = %v, want ErrInvalid", p, err)
		}
	}
	for _, c := range []struct {
		dest string
		opts []BindOption
		want error
	}{
		{"nope", nil, ErrNotFound},
		{"", nil, ErrInvalid},
		{"q q", nil, ErrInvalid},
		{"q.*", nil, ErrInvalid},
		{"q", []BindOption{nil}, ErrInvalid},
		{"x", nil, ErrInvalid}, // itself
	} {
		if err := x.Bind(c.dest, "a", c.opts...); !errors.Is(err, c.want) {
			t.Errorf("Bind(%q, a) = %v, want %v", c.dest, err, c.want)
		}
	}
	if err := x.Unbind("", "a"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Unbind with an empty name = %v, want ErrInvalid", err)
	}
	if len(x.routes.bindings) != 0 {
		t.Errorf("failed Binds left bindings %v", x.routes.bindings)
	}
	mustBind(t, x, "q", "a")
	b.Close()
	if err := x.Bind("q", "b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Bind after Close = %v, want ErrClosed", err)
	}
	if err := x.Unbind("q", "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Unbind after Close = %v, want ErrClosed", err)
	}
	if err := publishKey(x, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// A topic pattern with a space is refused: no routing key has one by
// mistake, and RabbitMQ users quote keys, not words.
func TestTopicPatternWithSpaceIsRefused(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	for _, p := range []string{"a b", "a. b", " a", "a\tb", "a.b\n"} {
		if err := x.Bind("q", p); !errors.Is(err, ErrBadPattern) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Bind(%q) = %v, want ErrBadPattern and ErrInvalid", p, err)
		}
	}
}

func TestBindIdempotentAndUnbind(t *testing.T) {
	b := newTestBroker(t)
	for _, kind := range []ExchangeKind{DirectExchange, FanoutExchange, TopicExchange, HeadersExchange} {
		x := mustExchange(t, b, "x-"+kind.String(), kind)
		q := mustQueue(t, b, "q-"+kind.String())
		mustBind(t, x, q.Name(), "a")
		mustBind(t, x, q.Name(), "a")
		if len(x.routes.bindings) != 1 {
			t.Errorf("%v: binding twice made %d bindings", kind, len(x.routes.bindings))
		}
		if err := publishKey(x, "a"); err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		if n := len(receiveAll(t, q)); n != 1 {
			t.Errorf("%v: got %d messages, want 1", kind, n)
		}
		if err := x.Unbind(q.Name(), "b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%v: Unbind of a key never bound = %v, want ErrNotFound", kind, err)
		}
		if err := x.Unbind("nope", "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%v: Unbind of an undeclared name = %v, want ErrNotFound", kind, err)
		}
		if err := x.Unbind(q.Name(), "a"); err != nil {
			t.Fatalf("%v: Unbind: %v", kind, err)
		}
		if err := x.Unbind(q.Name(), "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%v: second Unbind = %v, want ErrNotFound", kind, err)
		}
		if err := publishKey(x, "a"); !errors.Is(err, ErrUnroutable) {
			t.Errorf("%v: Publish after Unbind = %v, want ErrUnroutable", kind, err)
		}
		if q.Len() != 0 {
			t.Errorf("%v: unbound queue got a message", kind)
		}
	}
}

func TestExchangeUnroutable(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "orders", TopicExchange)
	q := mustQueue(t, b, "q")
	mustBind(t, x, "q", "order.*")
	err := publishKey(x, "invoice.paid")
	if !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Publish = %v, want ErrUnroutable", err)
	}
	for _, s := range []string{`"orders"`, `"invoice.paid"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if q.Len() != 0 {
		t.Error("an unroutable message reached a queue")
	}
	// Broker.Publish reaches exchanges by name too.
	if err := b.Publish(context.Background(), "orders", &Message{Key: "order.paid"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), "orders", &Message{Key: "x"}); !errors.Is(err, ErrUnroutable) {
		t.Errorf("Broker.Publish = %v, want ErrUnroutable", err)
	}
	if q.Len() != 1 {
		t.Errorf("q holds %d messages, want 1", q.Len())
	}
}

func TestAlternateExchange(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange, WithAlternate("alt")) // alt declared later
	q := mustQueue(t, b, "q")
	mustBind(t, x, "q", "a.*")

	err := publishKey(x, "b")
	if !errors.Is(err, ErrUnroutable) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"alt"`) {
		t.Errorf("with the alternate undeclared: Publish = %v, want ErrUnroutable and ErrNotFound naming it", err)
	}

	alt := mustExchange(t, b, "alt", FanoutExchange)
	if err := publishKey(x, "b"); !errors.Is(err, ErrUnroutable) || errors.Is(err, ErrNotFound) {
		t.Errorf("with an alternate that routes nowhere: Publish = %v, want ErrUnroutable", err)
	}

	unrouted := mustQueue(t, b, "unrouted")
	mustBind(t, alt, "unrouted", "")
	if err := publishKey(x, "b"); err != nil {
		t.Fatalf("Publish through the alternate: %v", err)
	}
	if got := receiveAll(t, unrouted); len(got) != 1 || got[0].Key != "b" {
		t.Errorf("the alternate's queue got %v", got)
	}
	if err := publishKey(x, "a.b"); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 || unrouted.Len() != 0 {
		t.Errorf("a routable message: q %d, unrouted %d; want 1 and 0", q.Len(), unrouted.Len())
	}
}

func TestAlternateExchangeChains(t *testing.T) {
	b := newTestBroker(t)
	// x1 -> alternate x2 -> alternate x3 -> q; and x3's alternate is x1.
	x1 := mustExchange(t, b, "x1", DirectExchange, WithAlternate("x2"))
	mustExchange(t, b, "x2", DirectExchange, WithAlternate("x3"))
	x3 := mustExchange(t, b, "x3", DirectExchange, WithAlternate("x1"))
	if err := publishKey(x1, "k"); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("a cycle of alternates: Publish = %v, want ErrUnroutable", err)
	}
	q := mustQueue(t, b, "q")
	mustBind(t, x3, "q", "k")
	if err := publishKey(x1, "k"); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Errorf("q got %d messages through two alternates, want 1", q.Len())
	}

	// A bound exchange that matches nothing uses its own alternate.
	front := mustExchange(t, b, "front", FanoutExchange)
	inner := mustExchange(t, b, "inner", TopicExchange, WithAlternate("innerAlt"))
	innerAlt := mustExchange(t, b, "innerAlt", FanoutExchange)
	qa := mustQueue(t, b, "qa")
	mustBind(t, front, "inner", "")
	mustBind(t, innerAlt, "qa", "")
	mustBind(t, inner, "q", "never")
	if err := publishKey(front, "k"); err != nil {
		t.Fatal(err)
	}
	if qa.Len() != 1 {
		t.Errorf("qa got %d messages through the inner alternate, want 1", qa.Len())
	}
	_ = inner

	// An alternate name that turns out to be a queue.
	y := mustExchange(t, b, "y", DirectExchange, WithAlternate("notx"))
	mustQueue(t, b, "notx")
	if err := publishKey(y, "k"); !errors.Is(err, ErrUnroutable) || !errors.Is(err, ErrInvalid) {
		t.Errorf("alternate is a queue: Publish = %v, want ErrUnroutable and ErrInvalid", err)
	}
}

func TestExchangePartialFailure(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", FanoutExchange)
	q1 := mustQueue(t, b, "q1")
	full := mustQueue(t, b, "full", WithCapacity(1), WithOverflow(OverflowReject))
	q3 := mustQueue(t, b, "q3")
	for _, q := range []string{"q1", "full", "q3"} {
		mustBind(t, x, q, "")
	}
	if err := full.Publish(context.Background(), NewMessage("filler")); err != nil {
		t.Fatal(err)
	}
	m := NewMessage("m")
	err := x.Publish(context.Background(), m)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Publish = %v, want an error wrapping ErrFull", err)
	}
	var re *RouteError
	if !errors.As(err, &re) {
		t.Fatalf("Publish = %T, want *RouteError", err)
	}
	if re.Exchange != "x" || re.Delivered != 2 || len(re.Failed) != 1 || re.Failed[0].Dest != "full" {
		t.Errorf("RouteError = %+v", re)
	}
	if !strings.Contains(err.Error(), `"full"`) || !strings.Contains(err.Error(), "1 of 3") {
		t.Errorf("error %q does not say which destination refused", err)
	}
	for _, q := range []*Queue{q1, q3} {
		got := receiveAll(t, q)
		if len(got) != 1 || got[0] != m {
			t.Errorf("%s got %v, want the published message itself", q.Name(), got)
		}
	}
	if full.Stats().Published != 1 {
		t.Error("the full queue took the message")
	}
}

// TestExchangeBlockingPublish checks that a full OverflowBlock queue makes
// Publish wait, and that once ctx ends the other destinations still get
// the message.
func TestExchangeBlockingPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		x := mustExchange(t, b, "x", FanoutExchange)
		slow := mustQueue(t, b, "slow", WithCapacity(1))
		q2 := mustQueue(t, b, "q2")
		mustBind(t, x, "slow", "")
		mustBind(t, x, "q2", "")
		if err := slow.Publish(context.Background(), NewMessage("filler")); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := x.Publish(ctx, NewMessage("cancelled"))
		var re *RouteError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &re) || re.Failed[0].Dest != "slow" {
			t.Fatalf("Publish with a cancelled ctx = %v, want a RouteError for slow wrapping context.Canceled", err)
		}
		if q2.Len() != 1 {
			t.Errorf("q2, which had room, got %d messages, want 1", q2.Len())
		}

		done := make(chan error, 1)
		go func() { done <- x.Publish(context.Background(), NewMessage("waits")) }()
		synctest.Wait() // the publisher waits for room in slow
		select {
		case err := <-done:
			t.Fatalf("Publish to a full OverflowBlock queue returned %v at once", err)
		default:
		}
		if q2.Len() != 1 {
			t.Errorf("q2 got the message before slow, bound earlier")
		}
		receiveAll(t, slow)
		if err := <-done; err != nil {
			t.Fatalf("Publish after room was made = %v", err)
		}
		if got := receiveAll(t, slow); len(got) != 1 || got[0].Body != "waits" {
			t.Errorf("slow got %v", got)
		}
		if q2.Len() != 2 {
			t.Errorf("q2 holds %d messages, want 2", q2.Len())
		}
	})
}

func TestExchangeInternalPutDoesNotWait(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", FanoutExchange)
	q := mustQueue(t, b, "q", WithCapacity(1))
	mustBind(t, x, "q", "")
	q.Publish(context.Background(), NewMessage(1))
	m := NewMessage(2)
	m.stamp(b.wall)
	if err := x.put(context.Background(), m, true); !errors.Is(err, ErrFull) {
		t.Errorf("internal put to a full queue = %v, want ErrFull", err)
	}
}

func TestExchangeBadPublish(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", FanoutExchange)
	mustQueue(t, b, "q")
	mustBind(t, x, "q", "")
	if err := x.Publish(context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Publish(nil message) = %v, want ErrInvalid", err)
	}
	//lint:ignore SA1012 a nil context is the bad input under test
	if err := x.Publish(nil, NewMessage(1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Publish(nil ctx) = %v, want ErrInvalid", err)
	}
	m := NewMessage(1)
	if err := x.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Time.IsZero() {
		t.Errorf("Publish did not stamp the message: %+v", m)
	}
}
