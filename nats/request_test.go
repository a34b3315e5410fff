package heraldnats_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
)

type quote struct {
	Item  string  `json:"item"`
	Price float64 `json:"price"`
}

// serveQuotes consumes the queue "quotes" of b, replying to each request
// for an item with its price, until the test ends.
func serveQuotes(t *testing.T, b *herald.Broker) {
	t.Helper()
	q := mustQueue(t, b, "quotes")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(ctx, herald.TypedDelivery(func(ctx context.Context, item string, d *herald.Delivery) error {
			return d.Reply(ctx, herald.NewMessage(quote{Item: item, Price: float64(len(item))}))
		}), herald.WithConcurrency(4))
	}()
	t.Cleanup(func() { stop(); <-done })
}

// b1.Request to a queue that the bridge maps to a NATS subject is answered
// by a herald consumer of another broker, behind its own bridge.
func TestRequestReply(t *testing.T) {
	s := startServer(t)
	b1, b2 := newBroker(t), newBroker(t)
	br1, br2 := connect(t, b1, s), connect(t, b2, s)
	serveQuotes(t, b2)
	if _, err := br2.ImportRequests("svc.quotes", "quotes"); err != nil {
		t.Fatal(err)
	}
	mustQueue(t, b1, "quotes")
	out, err := br1.ExportRequests(heraldnats.FromQueue("quotes"), "svc.quotes")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	// Concurrent requests each get their own reply.
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			item := fmt.Sprintf("item-%0*d", i, 0)
			reply, err := request(ctx, b1, "quotes", herald.NewMessage(item))
			if err == nil {
				err = heraldnats.ReplyError(reply)
			}
			if err == nil {
				var q quote
				q, err = herald.BodyAs[quote](reply)
				if err == nil && (q.Item != item || q.Price != float64(len(item))) {
					err = fmt.Errorf("request %q answered %+v", item, q)
				}
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// A route acks the delivery just after the reply reached the requester.
	waitFor(t, 10*time.Second, "20 acks", func() bool { return out.Stats().Acked == 20 })
	if st := out.Stats(); st.Forwarded != 20 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// When nothing can answer, the requester learns it at once, by an error
// reply that ReplyError turns into the error herald would have returned in
// one process.
func TestRequestNoResponders(t *testing.T) {
	s := startServer(t)
	b1, b2 := newBroker(t), newBroker(t)
	br1, br2 := connect(t, b1, s), connect(t, b2, s)
	mustQueue(t, b1, "quotes")
	mustQueue(t, b1, "missing")
	if _, err := br1.ExportRequests(heraldnats.FromQueue("quotes"), "svc.quotes"); err != nil {
		t.Fatal(err)
	}
	if _, err := br1.ExportRequests(heraldnats.FromQueue("missing"), "svc.missing"); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Topic("quotes"); err != nil { // declared, but nobody subscribes
		t.Fatal(err)
	}
	if _, err := br2.ImportRequests("svc.quotes", "quotes"); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	for _, name := range []string{"quotes", "missing"} { // herald has no subscriber; NATS has no subscriber
		reply, err := request(ctx, b1, name, herald.NewMessage("x"))
		if err != nil {
			t.Fatal(err)
		}
		err = heraldnats.ReplyError(reply)
		var re *heraldnats.RemoteError
		if !errors.Is(err, herald.ErrNoResponders) || !errors.Is(err, heraldnats.ErrRemote) || !errors.As(err, &re) || re.Subject != "svc."+name {
			t.Errorf("request to %s: reply error %v, want a RemoteError wrapping ErrNoResponders", name, err)
		}
	}
}

func TestRequestInvalid(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	mustQueue(t, b, "q")
	if _, err := br.ExportRequests(heraldnats.FromQueue("q"), "a.>"); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("wildcard subject: %v", err)
	}
	if _, err := br.ExportRequests(heraldnats.FromQueue("q"), "a", heraldnats.WithConcurrency(0)); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("concurrency 0: %v", err)
	}
	if _, err := br.ImportRequests("a..b", "q"); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("bad subject: %v", err)
	}
	if _, err := br.ImportRequests("a.>", "q", heraldnats.WithRequestTimeout(-1)); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("negative timeout: %v", err)
	}
	if _, err := br.ImportRequests("a", "q", heraldnats.WithQueueGroup("")); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("empty queue group: %v", err)
	}
	if err := heraldnats.ReplyError(nil); err != nil {
		t.Errorf("ReplyError(nil) = %v", err)
	}
}
