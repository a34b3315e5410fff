package herald

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type orderV2 struct {
	ID    int    `json:"id"`
	Total string `json:"total"`
}

// upgrade turns a v1 body (an int ID) into a v2 order.
func upgrade(m *Message) (*Message, error) {
	id, ok := m.Body.(int)
	if !ok {
		return nil, errors.New("not a v1 order")
	}
	c := *m
	c.Body = orderV2{ID: id, Total: "unknown"}
	return &c, nil
}

func TestQueueTransformAtPublish(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders", WithTransform(upgrade))
	ctx := context.Background()
	orig := NewMessage(7)
	if err := q.Publish(ctx, orig); err != nil {
		t.Fatal(err)
	}
	d := receiveOrFail(t, q)
	if d.Body != (orderV2{ID: 7, Total: "unknown"}) || d.ID != orig.ID {
		t.Fatalf("got %#v id %q, want the upgraded order with the original ID %q", d.Body, d.ID, orig.ID)
	}
	if orig.Body != 7 {
		t.Fatal("the transform changed the published message")
	}
	// A failing transform: the publisher gets the error, nothing is queued.
	err := q.Publish(ctx, NewMessage("garbage"))
	if !errors.Is(err, ErrTransform) || !strings.Contains(err.Error(), "not a v1 order") {
		t.Fatalf("Publish = %v, want ErrTransform with the cause", err)
	}
	if s := q.Stats(); s.Published != 1 {
		t.Fatalf("published %d, want 1", s.Published)
	}
	// Functions cannot be compared: a queue with a transform is looked up,
	// not declared again.
	if _, err := b.Queue("orders", WithTransform(upgrade)); !errors.Is(err, ErrExists) {
		t.Fatalf("redeclare with the same transform = %v, want ErrExists", err)
	}
	if _, err := b.Queue("orders"); !errors.Is(err, ErrExists) {
		t.Fatalf("redeclare without the transform = %v, want ErrExists", err)
	}
	if again, err := b.LookupQueue("orders"); err != nil || again != q {
		t.Fatalf("LookupQueue = %v, %v; want the queue", again, err)
	}
}

func TestTransformPanicIsAnError(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithTransform(func(*Message) (*Message, error) { panic("boom") }))
	if err := q.Publish(context.Background(), NewMessage(1)); !errors.Is(err, ErrTransform) {
		t.Fatalf("Publish = %v, want ErrTransform", err)
	}
	q2 := mustQueue(t, b, "q2", WithTransform(func(*Message) (*Message, error) { return nil, nil }))
	if err := q2.Publish(context.Background(), NewMessage(1)); !errors.Is(err, ErrTransform) {
		t.Fatalf("Publish through a nil-returning transform = %v, want ErrTransform", err)
	}
}

// At delivery time a failing transform dead-letters; a redelivery
// transforms what was published, not the previous transform's output.
func TestSubscriptionTransformAtDelivery(t *testing.T) {
	for _, group := range []bool{false, true} {
		b := newTestBroker(t)
		tp, _ := b.Topic("orders")
		dead := mustQueue(t, b, "dead")
		opts := []SubscribeOption{WithTransform(upgrade), WithDeadLetter("dead"), WithBackoff(0, 0)}
		if group {
			opts = append(opts, WithGroup("g"))
		}
		sub, err := tp.Subscribe(opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		tp.Publish(ctx, NewMessage("garbage"))
		tp.Publish(ctx, NewMessage(5))
		d, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Body != (orderV2{ID: 5, Total: "unknown"}) {
			t.Fatalf("group=%v: got %#v", group, d.Body)
		}
		d.Nack()
		d, err = sub.Receive(ctx)
		if err != nil || d.Attempt != 2 || d.Body != (orderV2{ID: 5, Total: "unknown"}) {
			t.Fatalf("group=%v: redelivery %#v attempt %d, %v", group, d.Body, d.Attempt, err)
		}
		d.Ack()
		dl := receiveOrFail(t, dead)
		if dl.Body != "garbage" || !strings.Contains(dl.Headers[HeaderDeathError], "not a v1 order") ||
			dl.Headers[HeaderDeathReason] != ReasonRejected {
			t.Fatalf("group=%v: dead letter %v headers %v", group, dl.Body, dl.Headers)
		}
		if s := sub.Stats(); s.Rejected != 1 || s.Acked != 1 {
			t.Fatalf("group=%v: stats %+v", group, s)
		}
		cancel()
	}
}

// The format decoupling of the design: a producer publishes JSON bytes to
// an exchange; a binding's transform and a typed consumer on its own
// struct take it from there, and a typed producer's reply goes back as
// JSON.
func TestJSONProducerTypedConsumerThroughExchange(t *testing.T) {
	b := newTestBroker(t)
	x, _ := b.Exchange("in", TopicExchange)
	billing := mustQueue(t, b, "billing")
	legacy := mustQueue(t, b, "legacy")
	// billing decodes itself, with a typed handler; legacy wants a string.
	if err := x.Bind("billing", "order.*"); err != nil {
		t.Fatal(err)
	}
	toText := func(m *Message) (*Message, error) {
		raw, ok := m.Body.([]byte)
		if !ok {
			return nil, errors.New("want JSON bytes")
		}
		c := *m
		c.Body = "legacy:" + string(raw)
		return &c, nil
	}
	if err := x.Bind("legacy", "order.#", WithTransform(toText)); err != nil {
		t.Fatal(err)
	}
	if err := x.Bind("in", "#", WithTransform(toText)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("transform on a binding to an exchange = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	raw, _ := json.Marshal(orderV2{ID: 9, Total: "12.50"})
	if err := x.Publish(ctx, &Message{Key: "order.placed", Body: raw}); err != nil {
		t.Fatal(err)
	}
	got := make(chan orderV2, 1)
	done := make(chan error, 1)
	cctx, stop := context.WithCancel(ctx)
	go func() {
		done <- billing.Consume(cctx, Typed(func(ctx context.Context, o orderV2) error {
			got <- o
			return nil
		}))
	}()
	if o := <-got; o != (orderV2{ID: 9, Total: "12.50"}) {
		t.Fatalf("typed consumer got %+v", o)
	}
	stop()
	<-done
	if d := receiveOrFail(t, legacy); d.Body != `legacy:{"id":9,"total":"12.50"}` {
		t.Fatalf("legacy got %v", d.Body)
	}
	// A binding transform that fails is the publisher's error, for that
	// destination only.
	err := x.Publish(ctx, &Message{Key: "order.placed", Body: "not bytes"})
	var re *RouteError
	if !errors.As(err, &re) || !errors.Is(err, ErrTransform) || len(re.Failed) != 1 || re.Failed[0].Dest != "legacy" {
		t.Fatalf("Publish = %v, want a RouteError naming legacy with ErrTransform", err)
	}
	if billing.Len() != 1 {
		t.Fatalf("billing has %d ready, want the message despite legacy's failure", billing.Len())
	}
}
