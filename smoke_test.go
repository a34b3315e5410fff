package herald

import (
	"context"
	"testing"
)

func TestPublishReceiveAck(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	for i := range 3 {
		if err := q.Publish(ctx, NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Body != i || d.Attempt != 1 {
			t.Fatalf("got body %v attempt %d, want %d attempt 1", d.Body, d.Attempt, i)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		if err := d.Ack(); err != ErrSettled {
			t.Fatalf("second Ack = %v, want ErrSettled", err)
		}
	}
	if s := q.Stats(); s.Published != 3 || s.Acked != 3 || s.Unacked != 0 {
		t.Fatalf("stats %+v", s)
	}
}
