package heraldwm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

// A Watermill router runs on herald: a handler error nacks, so herald
// redelivers the message at once, and the handler's output is published.
func TestRouter(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{
		ConsumerGroup: "router",
		Redelivery:    []herald.RedeliveryOption{herald.WithBackoff(0, 0)},
	})
	out := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	results := subscribe(t, out, context.Background(), "out")

	r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	r.AddHandler("h", "in", s, "out", p, func(msg *message.Message) ([]*message.Message, error) {
		if !failed { // only the router's goroutine runs the handler
			failed = true
			return nil, errors.New("transient")
		}
		return []*message.Message{message.NewMessage("reply-"+msg.UUID, msg.Payload)}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()

	publish(t, p, "in", message.NewMessage("1", []byte("x")))
	m := receive(t, results)
	if m.UUID != "reply-1" || string(m.Payload) != "x" {
		t.Fatalf("got %s %q", m.UUID, m.Payload)
	}
	m.Ack()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
