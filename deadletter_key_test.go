package herald

import (
	"context"
	"testing"
	"time"
)

func TestDeadLetterKeyKeptOrReplaced(t *testing.T) {
	b := newTestBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keep := mustQueue(t, b, "keep", WithDeadLetter("dead.keep"))
	replace := mustQueue(t, b, "replace", WithDeadLetter("dead.replace"), WithDeadLetterKey("failed.replace"))
	// Same options again: the key option must not make a redeclare differ.
	if again, err := b.Queue("replace", WithDeadLetter("dead.replace"), WithDeadLetterKey("failed.replace")); err != nil || again != replace {
		t.Fatalf("redeclare: %v, %v", again, err)
	}
	deadKeep := mustQueue(t, b, "dead.keep")
	deadReplace := mustQueue(t, b, "dead.replace")
	for _, q := range []*Queue{keep, replace} {
		if err := q.Publish(ctx, &Message{Key: "order.created", Body: q.Name()}); err != nil {
			t.Fatal(err)
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Reject()
	}
	for _, c := range []struct {
		q   *Queue
		key string
	}{{deadKeep, "order.created"}, {deadReplace, "failed.replace"}} {
		d, err := c.q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Key != c.key {
			t.Errorf("%s: dead letter key %q, want %q", c.q.Name(), d.Key, c.key)
		}
	}
}
