package heraldwm_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

// waitTimeout bounds every wait, so that a bug fails the test instead of
// hanging it; nothing waits for it to pass.
const waitTimeout = 10 * time.Second

func newBroker(t *testing.T) *herald.Broker {
	t.Helper()
	b := herald.New()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newPublisher(t *testing.T, b *herald.Broker) *heraldwm.Publisher {
	t.Helper()
	p, err := heraldwm.NewPublisher(b, heraldwm.PublisherConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newSubscriber(t *testing.T, b *herald.Broker, cfg heraldwm.SubscriberConfig) *heraldwm.Subscriber {
	t.Helper()
	s, err := heraldwm.NewSubscriber(b, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func subscribe(t *testing.T, s *heraldwm.Subscriber, ctx context.Context, topic string) <-chan *message.Message {
	t.Helper()
	ch, err := s.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message")
	}
	return nil
}

func waitClosed(t *testing.T, ch <-chan *message.Message) {
	t.Helper()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			t.Errorf("unexpected message %s", m.UUID)
		case <-time.After(waitTimeout):
			t.Fatal("channel not closed")
		}
	}
}

func publish(t *testing.T, p *heraldwm.Publisher, topic string, msgs ...*message.Message) {
	t.Helper()
	if err := p.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestMessageFields(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch := subscribe(t, s, context.Background(), "t")

	in := message.NewMessage("id-1", []byte("payload"))
	in.Metadata.Set("k", "v")
	publish(t, p, "t", in)
	out := receive(t, ch)
	if out.UUID != "id-1" || string(out.Payload) != "payload" || out.Metadata.Get("k") != "v" {
		t.Fatalf("got %s %q %v", out.UUID, out.Payload, out.Metadata)
	}
	// Metadata is the subscriber's own copy.
	out.Metadata.Set("k", "changed")
	if in.Metadata.Get("k") != "v" {
		t.Error("publisher's metadata changed by the subscriber")
	}
	out.Ack()
	select {
	case <-out.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("message context not cancelled after Ack")
	}
}

func TestStartsAtNextMessageByDefault(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	if err := s.SubscribeInitialize("t"); err != nil {
		t.Fatal(err)
	}
	publish(t, p, "t", message.NewMessage("old", nil))
	ch := subscribe(t, s, context.Background(), "t")
	publish(t, p, "t", message.NewMessage("new", nil))
	if m := receive(t, ch); m.UUID != "new" {
		t.Fatalf("got %s, want new", m.UUID)
	}
}

func TestFromEarliest(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	publish(t, p, "t", message.NewMessage("old", nil))
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{FromEarliest: true})
	ch := subscribe(t, s, context.Background(), "t")
	if m := receive(t, ch); m.UUID != "old" {
		t.Fatalf("got %s, want old", m.UUID)
	}
}

// A nack redelivers at once, at the head, counting attempts, and the
// max deliveries dead-letter the message, with herald's x-death headers, to
// a topic another Watermill subscriber reads.
func TestNackRedeliversThenDeadLetters(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{
		Redelivery: []herald.RedeliveryOption{
			herald.WithBackoff(time.Millisecond, time.Millisecond),
			herald.WithMaxDeliveries(3),
			herald.WithDeadLetter("orders.dead"),
		},
	})
	dead := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	deadCh := subscribe(t, dead, context.Background(), "orders.dead")
	ch := subscribe(t, s, context.Background(), "orders")

	publish(t, p, "orders", message.NewMessage("poison", []byte("x")), message.NewMessage("fine", []byte("y")))
	deliveries := map[string]int{}
	for range 4 {
		m := receive(t, ch)
		deliveries[m.UUID]++
		if m.UUID == "poison" {
			m.Nack()
		} else {
			m.Ack()
		}
	}
	if deliveries["poison"] != 3 || deliveries["fine"] != 1 {
		t.Fatalf("deliveries %v", deliveries)
	}
	d := receive(t, deadCh)
	if d.UUID != "poison" || string(d.Payload) != "x" ||
		d.Metadata.Get(herald.HeaderDeathReason) != herald.ReasonDeliveryLimit ||
		d.Metadata.Get(herald.HeaderDeathAttempts) != "3" {
		t.Fatalf("dead letter %s %q %v", d.UUID, d.Payload, d.Metadata)
	}
	d.Ack()
}

// Subscribers sharing a consumer group share the messages; an unacked
// message of a member that leaves goes to another member.
func TestConsumerGroup(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	cfg := heraldwm.SubscriberConfig{
		ConsumerGroup: "workers",
		Redelivery:    []herald.RedeliveryOption{herald.WithBackoff(0, 0)},
	}
	s1 := newSubscriber(t, b, cfg)
	s2 := newSubscriber(t, b, cfg)
	ch1 := subscribe(t, s1, context.Background(), "jobs")
	ch2 := subscribe(t, s2, context.Background(), "jobs")

	const n = 100
	for i := range n {
		publish(t, p, "jobs", message.NewMessage(strconv.Itoa(i), nil))
	}
	// s1 holds one message unacked and leaves; s2 must get it.
	held := receive(t, ch1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch1)

	seen := map[string]int{}
	for len(seen) < n {
		m := receive(t, ch2)
		seen[m.UUID]++
		m.Ack()
	}
	if seen[held.UUID] == 0 {
		t.Fatalf("message %s held by the closed member never redelivered", held.UUID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// Without a group, every subscriber gets every message.
func TestPlainSubscribersEachGetAll(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch1 := subscribe(t, s, context.Background(), "t")
	ch2 := subscribe(t, s, context.Background(), "t")
	publish(t, p, "t", message.NewMessage("a", nil), message.NewMessage("b", nil))
	for _, ch := range []<-chan *message.Message{ch1, ch2} {
		for _, want := range []string{"a", "b"} {
			m := receive(t, ch)
			if m.UUID != want {
				t.Fatalf("got %s, want %s", m.UUID, want)
			}
			m.Ack()
		}
	}
}

func TestContextCancelClosesChannel(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	ch := subscribe(t, s, ctx, "t")
	publish(t, p, "t", message.NewMessage("a", nil))
	m := receive(t, ch) // handed out, never acked
	cancel()
	waitClosed(t, ch)
	select {
	case <-m.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("message context not cancelled with the subscription")
	}
	// The subscriber goes on serving other subscriptions.
	ch2 := subscribe(t, s, context.Background(), "t")
	publish(t, p, "t", message.NewMessage("b", nil))
	if got := receive(t, ch2); got.UUID != "b" {
		t.Fatalf("got %s", got.UUID)
	}
}

func TestClose(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch1 := subscribe(t, s, context.Background(), "t1")
	ch2 := subscribe(t, s, context.Background(), "t2")
	publish(t, p, "t1", message.NewMessage("a", nil))
	receive(t, ch1) // left unacked: Close must not wait for it

	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitClosed(t, ch1)
	waitClosed(t, ch2)
	if _, err := s.Subscribe(context.Background(), "t1"); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := p.Publish("t1", message.NewMessage("b", nil)); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	// The broker stays open: the adapters do not own it.
	if _, err := b.Topic("other"); err != nil {
		t.Fatal(err)
	}
}

// Closing the publisher wakes a publish blocked on a full topic.
func TestCloseWakesBlockedPublish(t *testing.T) {
	b := newBroker(t)
	p, err := heraldwm.NewPublisher(b, heraldwm.PublisherConfig{
		TopicOptions: []herald.TopicOption{herald.WithCapacity(1)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{TopicOptions: []herald.TopicOption{herald.WithCapacity(1)}})
	ch := subscribe(t, s, context.Background(), "t")
	publish(t, p, "t", message.NewMessage("1", nil))
	receive(t, ch) // unacked; the ring holds the next one
	publish(t, p, "t", message.NewMessage("2", nil))

	done := make(chan error, 1)
	go func() { done <- p.Publish("t", message.NewMessage("3", nil)) }()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, herald.ErrClosed) {
			t.Fatalf("blocked publish returned %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("publish still blocked after Close")
	}
}

// Closing the broker closes the subscribers' channels too.
func TestBrokerCloseClosesChannels(t *testing.T) {
	b := newBroker(t)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch := subscribe(t, s, context.Background(), "t")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
}

// herald code and Watermill code share topics: bytes from Watermill reach a
// typed herald handler, and a Go value from herald reaches Watermill as JSON.
func TestInteropWithHerald(t *testing.T) {
	type order struct {
		ID int `json:"id"`
	}
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch := subscribe(t, s, context.Background(), "orders")

	topic, err := b.LookupTopic("orders")
	if err != nil {
		t.Fatal(err)
	}
	native, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()

	if err := topic.Publish(context.Background(), herald.NewMessage(order{ID: 7})); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch)
	if string(m.Payload) != `{"id":7}` {
		t.Fatalf("payload %q", m.Payload)
	}
	m.Ack()

	publish(t, p, "orders", message.NewMessage("w", []byte(`{"id":8}`)))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for range 2 {
		d, err := native.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Seq == 2 {
			o, err := herald.BodyAs[order](d.Message)
			if err != nil || o.ID != 8 {
				t.Fatalf("typed body %v, %v", o, err)
			}
		}
		_ = d.Ack()
	}
}
