package herald

import (
	"context"
	"testing"
)

func TestTopicFanoutSmoke(t *testing.T) {
	b := newTestBroker(t)
	tp, err := b.Topic("events", WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := tp.Subscribe()
	s2, _ := tp.Subscribe()
	ctx := context.Background()
	for i := range 3 {
		if err := tp.Publish(ctx, NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Subscription{s1, s2} {
		for i := range 3 {
			d, err := s.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Body != i || d.Seq != uint64(i+1) {
				t.Fatalf("got %v seq %d, want %d seq %d", d.Body, d.Seq, i, i+1)
			}
			d.Ack()
		}
	}
	late, _ := tp.Subscribe(FromEarliest())
	d, err := late.Receive(ctx)
	if err != nil || d.Body != 0 {
		t.Fatalf("FromEarliest: %v %v", d, err)
	}
}
