package herald

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
)

// A pattern subscription reads the matching topics declared before and
// after it, each in its own order, and says where each delivery came from.
func TestSubscribePatternCoversLaterTopics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		eu := topicOrFail(t, b, "orders.eu")
		topicOrFail(t, b, "orders")
		audit := topicOrFail(t, b, "audit.login")
		ps, err := b.SubscribePattern("orders.*")
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		us := topicOrFail(t, b, "orders.us") // declared later
		topicOrFail(t, b, "orders.us")       // and again: still one subscription
		if got := ps.Topics(); len(got) != 2 {
			t.Fatalf("Topics() = %v", got)
		}
		ctx := context.Background()
		for i := 1; i <= 5; i++ {
			for _, tp := range []*Topic{eu, us, audit} {
				if err := tp.Publish(ctx, NewMessage(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		next := map[string]int{"orders.eu": 1, "orders.us": 1}
		for range 10 {
			d, err := ps.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			src := d.Source()
			if want, ok := next[src]; !ok || d.Body != want || d.Seq != uint64(want) {
				t.Fatalf("from %q got %v (seq %d), want %d", src, d.Body, d.Seq, want)
			}
			next[src]++
			d.Ack()
		}
		if st := us.Stats(); st.Subscriptions != 1 {
			t.Fatalf("orders.us: %+v", st)
		}
	})
}

// Replay options apply per topic.
func TestSubscribePatternReplaysEachTopic(t *testing.T) {
	b := newTestBroker(t)
	for _, name := range []string{"audit", "audit.login", "audit.login.failed"} {
		tp := topicOrFail(t, b, name)
		publishInts(t, tp, 1, 2)
	}
	ps, err := b.SubscribePattern("audit.#", FromEarliest())
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var got []string
	for range 6 {
		d, err := ps.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%v", d.Source(), d.Body))
		d.Ack()
	}
	slices.Sort(got)
	want := []string{"audit.login.failed/1", "audit.login.failed/2", "audit.login/1", "audit.login/2", "audit/1", "audit/2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Close releases every topic's cursor, so the topics no longer hold
// publishers back, and wakes Receive.
func TestSubscribePatternCloseReleasesCursors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		a := topicOrFail(t, b, "t.a", WithCapacity(2))
		c := topicOrFail(t, b, "t.c", WithCapacity(2))
		ps, err := b.SubscribePattern("t.*")
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := ps.Receive(context.Background())
			for err == nil {
				_, err = ps.Receive(context.Background())
			}
			errc <- err
		}()
		publishInts(t, a, 1, 1) // one handed out, ...
		synctest.Wait()
		publishInts(t, a, 2, 2) // ... one held by the forwarder
		synctest.Wait()
		if err := ps.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close: %v", err)
		}
		for _, tp := range []*Topic{a, c} {
			if st := tp.Stats(); st.Subscriptions != 0 {
				t.Fatalf("%s still has %d subscriptions", tp.Name(), st.Subscriptions)
			}
		}
		publishInts(t, c, 1, 5) // beyond the capacity: nobody holds it back
		topicOrFail(t, b, "t.later")
		if got := ps.Topics(); len(got) != 2 {
			t.Fatalf("a closed subscription followed a new topic: %v", got)
		}
		if err := ps.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// Consume handles every matching topic's messages, in each topic's order.
func TestSubscribePatternConsume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		ps, err := b.SubscribePattern("jobs.*")
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		x := topicOrFail(t, b, "jobs.x")
		y := topicOrFail(t, b, "jobs.y")
		ctx, cancel := context.WithCancel(context.Background())
		seen := map[string][]any{}
		n := 0
		done := make(chan error, 1)
		go func() {
			done <- ps.Consume(ctx, func(_ context.Context, d *Delivery) error {
				seen[d.Source()] = append(seen[d.Source()], d.Body)
				if n++; n == 6 {
					cancel()
				}
				return nil
			})
		}()
		publishInts(t, x, 1, 3)
		publishInts(t, y, 1, 3)
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume: %v", err)
		}
		if fmt.Sprint(seen["jobs.x"], seen["jobs.y"]) != "[1 2 3] [1 2 3]" {
			t.Fatalf("seen %v", seen)
		}
		if err := ps.Consume(context.Background(), func(context.Context, *Delivery) error { return nil }, WithKeyOrdering()); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Consume WithKeyOrdering: %v", err)
		}
	})
}

func TestSubscribePatternInvalid(t *testing.T) {
	b := newTestBroker(t)
	for _, p := range []string{"a..b", "*x", "a b"} {
		if _, err := b.SubscribePattern(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("SubscribePattern(%q) = %v, want ErrInvalid", p, err)
		}
	}
	b.Close()
	if _, err := b.SubscribePattern("a.*"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
