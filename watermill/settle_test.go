package heraldwm_test

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

// A nack seeks back: the message comes again before those behind it,
// whatever herald's back-off.
func TestNackSeeksBack(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	s := newSubscriber(t, b, heraldwm.SubscriberConfig{})
	ch := subscribe(t, s, context.Background(), "t")
	publish(t, p, "t", message.NewMessage("a", nil), message.NewMessage("b", nil), message.NewMessage("c", nil))
	var got []string
	for len(got) < 4 {
		m := receive(t, ch)
		got = append(got, m.UUID)
		if len(got) == 2 {
			m.Nack()
			continue
		}
		m.Ack()
	}
	if want := "a b b c"; join(got) != want {
		t.Fatalf("got %s, want %s", join(got), want)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// A member that stops while holding a message gives it back without
// counting an attempt: under a max of one delivery, the next member still
// gets it instead of its being dead-lettered.
func TestStopReleasesWithoutAttempt(t *testing.T) {
	b := newBroker(t)
	p := newPublisher(t, b)
	cfg := heraldwm.SubscriberConfig{
		ConsumerGroup: "workers",
		Redelivery:    []herald.RedeliveryOption{herald.WithMaxDeliveries(1)},
	}
	s1 := newSubscriber(t, b, cfg)
	ch1 := subscribe(t, s1, context.Background(), "jobs")
	publish(t, p, "jobs", message.NewMessage("held", nil))
	if m := receive(t, ch1); m.UUID != "held" {
		t.Fatalf("got %s", m.UUID)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch1)
	s2 := newSubscriber(t, b, cfg)
	ch2 := subscribe(t, s2, context.Background(), "jobs")
	m := receive(t, ch2)
	if m.UUID != "held" {
		t.Fatalf("got %s, want held", m.UUID)
	}
	m.Ack()
}
