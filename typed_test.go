package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

type typedOrder struct {
	ID    int
	Total float64
}

func (o typedOrder) String() string { return fmt.Sprintf("order %d", o.ID) }

// startConsumer consumes q with h until the test ends.
func startConsumer(t testing.TB, q *Queue, h Handler, opts ...ConsumeOption) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := consumeAsync(ctx, q, h, opts...)
	t.Cleanup(func() {
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("Consume = %v, want context.Canceled", err)
		}
	})
}

// waitIdle waits until every message published to b is handled and settled.
func waitIdle(t testing.TB, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// publishMsg publishes m to q or fails the test.
func publishMsg(t testing.TB, q *Queue, m *Message) *Message {
	t.Helper()
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish to %q: %v", q.Name(), err)
	}
	return m
}

// callTyped runs h on a bare delivery of body, as a unit test of a handler
// would, with no broker.
func callTyped(h Handler, body any) error {
	return h(context.Background(), &Delivery{Message: NewMessage(body), Attempt: 1})
}

// wantBodyTypeError fails the test unless err is a permanent error
// wrapping ErrBodyType whose message is want.
func wantBodyTypeError(t testing.TB, err error, want string) {
	t.Helper()
	var bte *BodyTypeError
	switch {
	case err == nil:
		t.Fatalf("error = nil, want %q", want)
	case !errors.Is(err, ErrBodyType) || !errors.As(err, &bte):
		t.Fatalf("error %v (%T) does not wrap ErrBodyType and a *BodyTypeError", err, err)
	case !isPermanent(err):
		t.Fatalf("error %v is not permanent: a wrong body would be retried", err)
	case err.Error() != "permanent: "+want:
		t.Fatalf("error =\n%q\nwant\n%q", err.Error(), "permanent: "+want)
	}
}

func TestTypedDirectBody(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders")
	var got []typedOrder
	startConsumer(t, q, Typed(func(_ context.Context, o typedOrder) error {
		got = append(got, o)
		return nil
	}))
	for i := 1; i <= 3; i++ {
		publishOrFail(t, q, typedOrder{ID: i, Total: float64(i) / 2})
	}
	waitIdle(t, b)
	if fmt.Sprint(got) != "[order 1 order 2 order 3]" || got[2].Total != 1.5 {
		t.Fatalf("handled %+v, want orders 1, 2, 3 in order", got)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 3, Acked: 3, Consumers: 1})
}

func TestTypedJSONBody(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders")
	var got []typedOrder
	startConsumer(t, q, Typed(func(_ context.Context, o typedOrder) error {
		got = append(got, o)
		return nil
	}))
	// A producer that has bytes, with or without a content type.
	publishOrFail(t, q, []byte(`{"ID":1,"Total":2.5}`))
	publishOrFail(t, q, json.RawMessage(`{"ID":2,"Total":3.5,"Unknown":true}`))
	publishMsg(t, q, &Message{Headers: Headers{HeaderContentType: "application/json"}, Body: []byte(`{"ID":3}`)})
	waitIdle(t, b)
	want := []typedOrder{{1, 2.5}, {2, 3.5}, {3, 0}}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("handled %+v, want %+v", got, want)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 3, Acked: 3, Consumers: 1})
}

func TestTypedWrongTypeDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders", WithDeadLetter("orders.dead"))
	dead := mustQueue(t, b, "orders.dead")
	var calls int
	startConsumer(t, q, Typed(func(context.Context, typedOrder) error {
		calls++
		return nil
	}))
	m := publishOrFail(t, q, "not an order")
	d := receiveOrFail(t, dead)
	want := map[string]string{
		HeaderDeathQueue:    "orders",
		HeaderDeathReason:   ReasonRejected,
		HeaderDeathAttempts: "1",
		HeaderDeathError:    "permanent: herald: body of the wrong type: got string, handler wants herald.typedOrder",
	}
	for k, v := range want {
		if d.Headers[k] != v {
			t.Errorf("dead letter %s = %q, want %q", k, d.Headers[k], v)
		}
	}
	if d.ID != m.ID || d.Body != "not an order" {
		t.Errorf("dead letter %q body %v, want %q body %q", d.ID, d.Body, m.ID, "not an order")
	}
	settleOrFail(t, d.Ack)
	waitIdle(t, b)
	if calls != 0 {
		t.Fatalf("handler called %d times with a string body, want 0", calls)
	}
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Rejected: 1, DeadLettered: 1, Consumers: 1})
}

// A body a typed handler cannot use is rejected with an error naming both
// types, never a panic and never a call of the handler.
func TestTypedRejects(t *testing.T) {
	var noDelivery *Delivery
	var nilOrder *typedOrder
	var jsonErr *json.SyntaxError
	tests := []struct {
		name string
		h    func(called *bool) Handler
		body any
		want string
		is   any // a type the error must also wrap, for errors.As
	}{{
		name: "int for struct",
		h:    typedFlag[typedOrder],
		body: 42,
		want: "got int, handler wants herald.typedOrder",
	}, {
		name: "nil body",
		h:    typedFlag[typedOrder],
		body: nil,
		want: "got <nil>, handler wants herald.typedOrder",
	}, {
		name: "nil body, interface T",
		h:    typedFlag[any],
		body: nil,
		want: "got <nil>, handler wants interface {}",
	}, {
		name: "nil pointer for struct",
		h:    typedFlag[typedOrder],
		body: nilOrder,
		want: "got nil *herald.typedOrder, handler wants herald.typedOrder",
	}, {
		name: "nil pointer for pointer",
		h:    typedFlag[*typedOrder],
		body: nilOrder,
		want: "got nil *herald.typedOrder, handler wants *herald.typedOrder",
	}, {
		name: "struct for pointer",
		h:    typedFlag[*typedOrder],
		body: typedOrder{ID: 1},
		want: "got herald.typedOrder, handler wants *herald.typedOrder",
	}, {
		name: "JSON null for pointer",
		h:    typedFlag[*typedOrder],
		body: []byte("null"),
		want: "got []byte, handler wants *herald.typedOrder: decoding application/json: got a nil *herald.typedOrder",
	}, {
		name: "empty bytes",
		h:    typedFlag[typedOrder],
		body: []byte{},
		want: "got []byte, handler wants herald.typedOrder: decoding application/json: unexpected end of JSON input",
		is:   &jsonErr,
	}, {
		name: "bytes for interface",
		h:    typedFlag[fmt.Stringer],
		body: json.RawMessage(`{"ID":1}`),
		want: "got json.RawMessage, handler wants fmt.Stringer: decoding application/json: json: cannot unmarshal object into Go value of type fmt.Stringer",
	}, {
		name: "string for interface",
		h:    typedFlag[fmt.Stringer],
		body: "order 1",
		want: "got string, handler wants fmt.Stringer",
	}, {
		name: "string for bytes",
		h:    typedFlag[[]byte],
		body: "abc",
		want: "got string, handler wants []byte",
	}, {
		name: "delivery handler",
		h: func(called *bool) Handler {
			return TypedDelivery(func(context.Context, typedOrder, *Delivery) error { *called = true; return nil })
		},
		body: 1.5,
		want: "got float64, handler wants herald.typedOrder",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called bool
			err := callTyped(tt.h(&called), tt.body)
			if called {
				t.Fatal("handler called")
			}
			wantBodyTypeError(t, err, "herald: body of the wrong type: "+tt.want)
			if tt.is != nil && !errors.As(err, tt.is) {
				t.Fatalf("error %v does not wrap the codec's %T", err, tt.is)
			}
		})
	}
	t.Run("no message", func(t *testing.T) {
		var called bool
		h := typedFlag[typedOrder](&called)
		wantBodyTypeError(t, h(context.Background(), &Delivery{}),
			"herald: body of the wrong type: got no message, handler wants herald.typedOrder")
		wantBodyTypeError(t, h(context.Background(), noDelivery),
			"herald: body of the wrong type: got no delivery, handler wants herald.typedOrder")
		if called {
			t.Fatal("handler called")
		}
	})
}

func typedFlag[T any](called *bool) Handler {
	return Typed(func(context.Context, T) error { *called = true; return nil })
}

// typedGot returns a handler that stores its value in *got.
func typedGot[T any](got *T) Handler {
	return Typed(func(_ context.Context, v T) error { *got = v; return nil })
}

func TestTypedPointers(t *testing.T) {
	t.Run("pointer T gets the producer's pointer", func(t *testing.T) {
		p := &typedOrder{ID: 1}
		var got *typedOrder
		if err := callTyped(typedGot(&got), p); err != nil || got != p {
			t.Fatalf("got %p, %v; want the published pointer %p", got, err, p)
		}
	})
	t.Run("struct T gets a copy of a pointer body", func(t *testing.T) {
		p := &typedOrder{ID: 2, Total: 4}
		var got typedOrder
		if err := callTyped(typedGot(&got), p); err != nil || got != *p {
			t.Fatalf("got %+v, %v; want %+v", got, err, *p)
		}
	})
	t.Run("pointer T decodes JSON", func(t *testing.T) {
		var got *typedOrder
		if err := callTyped(typedGot(&got), []byte(`{"ID":3}`)); err != nil || got == nil || *got != (typedOrder{ID: 3}) {
			t.Fatalf("got %+v, %v; want &{ID:3}", got, err)
		}
	})
	t.Run("interface T gets any implementation", func(t *testing.T) {
		var got fmt.Stringer
		if err := callTyped(typedGot(&got), typedOrder{ID: 4}); err != nil || got != (typedOrder{ID: 4}) {
			t.Fatalf("got %v, %v; want order 4", got, err)
		}
		if err := callTyped(typedGot(&got), &typedOrder{ID: 5}); err != nil || got.String() != "order 5" {
			t.Fatalf("got %v, %v; want order 5", got, err)
		}
	})
	t.Run("any T gets bytes as they are", func(t *testing.T) {
		var got any
		if err := callTyped(typedGot(&got), []byte("x")); err != nil || string(got.([]byte)) != "x" {
			t.Fatalf("got %v, %v; want []byte x", got, err)
		}
	})
}

func TestTypedBytes(t *testing.T) {
	var got []byte
	raw := []byte(`"not decoded"`)
	if err := callTyped(typedGot(&got), raw); err != nil || &got[0] != &raw[0] {
		t.Fatalf("[]byte T: got %q, %v; want the body itself", got, err)
	}
	if err := callTyped(typedGot(&got), json.RawMessage(`{}`)); err != nil || string(got) != "{}" {
		t.Fatalf("[]byte T, json.RawMessage body: got %q, %v; want {}", got, err)
	}
	var rm json.RawMessage
	if err := callTyped(typedGot(&rm), []byte(` {"a":1}`)); err != nil || string(rm) != `{"a":1}` {
		t.Fatalf("json.RawMessage T, []byte body: got %q, %v", rm, err)
	}
}

func TestTypedDelivery(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders", WithDeadLetter("orders.dead"), WithBackoff(0, 0))
	dead := mustQueue(t, b, "orders.dead")
	var mu sync.Mutex
	var seen []string
	startConsumer(t, q, TypedDelivery(func(_ context.Context, o typedOrder, d *Delivery) error {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%d:%s:%d", o.ID, d.Headers["tenant"], d.Attempt))
		mu.Unlock()
		switch {
		case o.ID == 2 && d.Attempt == 1:
			return errors.New("later") // nacked, redelivered
		case o.ID == 3:
			return d.Reject() // settled by the handler
		}
		return nil
	}))
	for i := 1; i <= 3; i++ {
		publishMsg(t, q, &Message{Headers: Headers{"tenant": "t" + fmt.Sprint(i)}, Body: typedOrder{ID: i}})
	}
	d := receiveOrFail(t, dead)
	settleOrFail(t, d.Ack)
	waitIdle(t, b)
	if got := strings.Join(seen, " "); got != "1:t1:1 2:t2:1 3:t3:1 2:t2:2" {
		t.Fatalf("handled %s, want 1:t1:1 2:t2:1 3:t3:1 2:t2:2", got)
	}
	if d.Body != (typedOrder{ID: 3}) || d.Headers[HeaderDeathReason] != ReasonRejected {
		t.Fatalf("dead letter %v %v", d.Body, d.Headers)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 4, Acked: 2, Nacked: 1, Rejected: 1, DeadLettered: 1, Consumers: 1})
}

func TestTypedNilHandler(t *testing.T) {
	var noFunc func(context.Context, typedOrder) error
	var noDeliveryFunc func(context.Context, typedOrder, *Delivery) error
	if Typed(noFunc) != nil || TypedDelivery(noDeliveryFunc) != nil {
		t.Fatal("Typed(nil) or TypedDelivery(nil) is not nil")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	if err := q.Consume(context.Background(), Typed(noFunc)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Consume(Typed(nil)) = %v, want ErrInvalid", err)
	}
}

func TestTypedHandlerError(t *testing.T) {
	boom := errors.New("boom")
	h := Typed(func(context.Context, typedOrder) error { return boom })
	if err := callTyped(h, typedOrder{}); err != boom {
		t.Fatalf("error %v, want the handler's own", err)
	}
}

func TestBodyAs(t *testing.T) {
	o, err := BodyAs[typedOrder](NewMessage([]byte(`{"ID":9}`)))
	if err != nil || o != (typedOrder{ID: 9}) {
		t.Fatalf("BodyAs JSON = %+v, %v", o, err)
	}
	if o, err = BodyAs[typedOrder](NewMessage(typedOrder{ID: 8})); err != nil || o.ID != 8 {
		t.Fatalf("BodyAs direct = %+v, %v", o, err)
	}
	_, err = BodyAs[typedOrder](NewMessage("x"))
	var bte *BodyTypeError
	if !errors.As(err, &bte) || isPermanent(err) || bte.Got != "string" || bte.Want != "herald.typedOrder" || bte.Err != nil {
		t.Fatalf("BodyAs string = %#v (%v), want a bare *BodyTypeError", err, err)
	}
	if _, err = BodyAs[typedOrder](nil); !errors.Is(err, ErrBodyType) {
		t.Fatalf("BodyAs(nil) = %v, want ErrBodyType", err)
	}
	var nilOrder *typedOrder
	if _, err = BodyAs[*typedOrder](NewMessage(nilOrder)); !errors.Is(err, ErrBodyType) {
		t.Fatalf("BodyAs nil pointer = %v, want ErrBodyType", err)
	}
}

func TestTypedNoAllocs(t *testing.T) {
	ctx := context.Background()
	var sum int
	d := &Delivery{Message: NewMessage(&typedOrder{ID: 1})}
	h := Typed(func(_ context.Context, o *typedOrder) error { sum += o.ID; return nil })
	if n := testing.AllocsPerRun(100, func() { h(ctx, d) }); n != 0 {
		t.Fatalf("pointer T: %v allocs per delivery, want 0", n)
	}
	dv := &Delivery{Message: NewMessage(typedOrder{ID: 1})}
	hv := TypedDelivery(func(_ context.Context, o typedOrder, _ *Delivery) error { sum += o.ID; return nil })
	if n := testing.AllocsPerRun(100, func() { hv(ctx, dv) }); n != 0 {
		t.Fatalf("struct T: %v allocs per delivery, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { BodyAs[*typedOrder](d.Message) }); n != 0 {
		t.Fatalf("BodyAs: %v allocs per call, want 0", n)
	}
	hd := Typed(func(_ context.Context, o typedOrder) error { sum += o.ID; return nil })
	if n := testing.AllocsPerRun(100, func() { hd(ctx, d) }); n != 0 {
		t.Fatalf("struct T, pointer body: %v allocs per delivery, want 0", n)
	}
}

var benchSink int

// BenchmarkTyped compares a typed handler with a plain Handler doing the
// same type assertion by hand, called directly so that only the adapter's
// overhead is measured.
func BenchmarkTyped(b *testing.B) {
	ctx := context.Background()
	bench := func(name string, body any, h Handler) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			d := &Delivery{Message: NewMessage(body), Attempt: 1}
			for b.Loop() {
				if err := h(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	bench("plain", typedOrder{ID: 1}, func(_ context.Context, d *Delivery) error {
		o, ok := d.Body.(typedOrder)
		if !ok {
			return Permanent(errors.New("wrong type"))
		}
		benchSink += o.ID
		return nil
	})
	bench("typed", typedOrder{ID: 1}, Typed(func(_ context.Context, o typedOrder) error {
		benchSink += o.ID
		return nil
	}))
	bench("typed-pointer", &typedOrder{ID: 1}, Typed(func(_ context.Context, o *typedOrder) error {
		benchSink += o.ID
		return nil
	}))
	bench("typed-deref", &typedOrder{ID: 1}, Typed(func(_ context.Context, o typedOrder) error {
		benchSink += o.ID
		return nil
	}))
	bench("typed-json", []byte(`{"ID":1,"Total":2.5}`), Typed(func(_ context.Context, o typedOrder) error {
		benchSink += o.ID
		return nil
	}))
}
