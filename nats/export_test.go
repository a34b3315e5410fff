package heraldnats_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats.go/jetstream"
)

type order struct {
	ID    int     `json:"id"`
	Total float64 `json:"total"`
}

// fetch reads n messages of the stream with an ordered consumer.
func fetch(t *testing.T, js jetstream.JetStream, stream string, n int) []jetstream.Msg {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestExportQueue(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	st := createStream(t, br.JetStream(), "ORDERS", "orders.>")
	mustQueue(t, b, "orders")
	r, err := br.Export(heraldnats.FromQueue("orders"), "orders.{key}")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	msgs := []*herald.Message{
		{Key: "eu.created", Body: order{ID: 1, Total: 9.5}, Headers: herald.Headers{"tenant": "acme"},
			CorrelationID: "c-1", ReplyTo: "answers", Time: when, Priority: 3},
		{ID: "raw-2", Key: "us.created", Body: []byte("raw bytes")},
		{Key: "eu.shipped", Body: json.RawMessage(`{"id":3}`)},
	}
	for _, m := range msgs {
		if err := b.Publish(ctx, "orders", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WaitIdle(ctx); err != nil { // every delivery acked: every PubAck in
		t.Fatal(err)
	}
	if got := streamMsgs(t, st); got != 3 {
		t.Fatalf("stream has %d messages, want 3", got)
	}
	got := fetch(t, br.JetStream(), "ORDERS", 3)
	for i, m := range msgs {
		g := got[i]
		h := g.Headers()
		if g.Subject() != "orders."+m.Key {
			t.Errorf("message %d: subject %q, want orders.%s", i, g.Subject(), m.Key)
		}
		if h.Get(jetstream.MsgIDHeader) != m.ID {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", i, h.Get(jetstream.MsgIDHeader), m.ID)
		}
		if h.Get(heraldnats.HeaderKey) != m.Key {
			t.Errorf("message %d: key header %q, want %q", i, h.Get(heraldnats.HeaderKey), m.Key)
		}
		if h.Get(heraldnats.HeaderTime) != m.Time.Format(time.RFC3339Nano) {
			t.Errorf("message %d: time header %q, want %v", i, h.Get(heraldnats.HeaderTime), m.Time)
		}
	}
	first := got[0].Headers()
	for k, want := range map[string]string{
		"tenant": "acme", heraldnats.HeaderCorrelationID: "c-1", heraldnats.HeaderReplyTo: "answers",
		heraldnats.HeaderPriority: "3", herald.HeaderContentType: "application/json",
	} {
		if v := first[k]; len(v) != 1 || v[0] != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if string(got[0].Data()) != `{"id":1,"total":9.5}` {
		t.Errorf("struct body sent as %s", got[0].Data())
	}
	if string(got[1].Data()) != "raw bytes" || got[1].Headers()[herald.HeaderContentType] != nil {
		t.Errorf("[]byte body sent as %q with headers %v", got[1].Data(), got[1].Headers())
	}
	if string(got[2].Data()) != `{"id":3}` || got[2].Headers().Get(herald.HeaderContentType) != "application/json" {
		t.Errorf("json.RawMessage body sent as %q with headers %v", got[2].Data(), got[2].Headers())
	}
	// The route counts an ack just after herald took it.
	waitFor(t, 10*time.Second, "3 acks", func() bool { return r.Stats().Acked == 3 })
	stats := r.Stats()
	if stats.Forwarded != 3 || stats.Acked != 3 || stats.Failed != 0 || stats.Lag != 0 {
		t.Errorf("stats %+v, want 3 forwarded and acked", stats)
	}
	if q, _ := b.LookupQueue("orders"); q.Stats().Acked != 3 {
		t.Errorf("herald queue stats %+v, want 3 acked", q.Stats())
	}
}

// A topic is exported through a subscription group and an exchange through
// a binding; both keep what they receive while the route runs.
func TestExportTopicAndExchange(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	st := createStream(t, br.JetStream(), "EVENTS", "events.>")
	if _, err := b.Topic("clicks"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exchange("audit", herald.TopicExchange); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Export(heraldnats.FromTopic("clicks", herald.WithGroup("to-nats")), "events.clicks"); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Export(heraldnats.FromExchange("audit", "user.#", "audit-to-nats"), "events.audit.{key}"); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	for i := range 10 {
		if err := b.Publish(ctx, "clicks", herald.NewMessage(i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(ctx, "audit", &herald.Message{Key: "user.login", Body: i}); err != nil {
			t.Fatal(err)
		}
	}
	// Not bound: unroutable, the publisher learns it, nothing is exported.
	if err := b.Publish(ctx, "audit", &herald.Message{Key: "system.boot"}); !errors.Is(err, herald.ErrUnroutable) {
		t.Fatalf("unbound key: %v, want ErrUnroutable", err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, st); got != 20 {
		t.Fatalf("stream has %d messages, want 20", got)
	}
	subjects := map[string]int{}
	for _, m := range fetch(t, br.JetStream(), "EVENTS", 20) {
		subjects[m.Subject()]++
	}
	if subjects["events.clicks"] != 10 || subjects["events.audit.user.login"] != 10 {
		t.Errorf("subjects %v", subjects)
	}
}

// A message whose subject cannot be made is rejected (dead-lettered); one
// that JetStream refuses (no stream for its subject) is nacked, redelivered
// by the queue's rules, and dead-lettered at its max deliveries.
func TestExportFailures(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	mustQueue(t, b, "dead")
	mustQueue(t, b, "out", herald.WithMaxDeliveries(2), herald.WithDeadLetter("dead"), herald.WithBackoff(time.Millisecond, time.Millisecond))
	r, err := br.Export(heraldnats.FromQueue("out"), "{key}")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	for _, key := range []string{"", "nowhere.x", "orders.ok"} {
		if err := b.Publish(ctx, "out", &herald.Message{ID: "k:" + key, Key: key, Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	dead := map[string]string{}
	dq, _ := b.LookupQueue("dead")
	for range 2 {
		d, err := dq.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dead[d.ID] = d.Headers[herald.HeaderDeathReason]
		d.Ack()
	}
	if dead["k:"] != herald.ReasonRejected || dead["k:nowhere.x"] != herald.ReasonDeliveryLimit {
		t.Errorf("dead letters %v: want k: rejected, k:nowhere.x at the delivery limit", dead)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "1 ack", func() bool { return r.Stats().Acked == 1 })
	st := r.Stats()
	if st.Forwarded != 1 || st.Acked != 1 || st.Failed != 3 || st.Redelivered != 1 {
		t.Errorf("stats %+v: want 1 forwarded and acked, 3 failed (1 rejected, 2 nacked), 1 redelivered", st)
	}
}

func TestExportInvalid(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	mustQueue(t, b, "q")
	for _, tc := range []struct {
		src     heraldnats.Source
		subject string
		opts    []heraldnats.ExportOption
		want    error
	}{
		{nil, "a", nil, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "", nil, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "a..b", nil, herald.ErrInvalid},
		{heraldnats.FromQueue("q"), "a.*", nil, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "a.{id}", nil, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "a b", nil, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "a", []heraldnats.ExportOption{heraldnats.WithMaxInFlight(0)}, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("q"), "a", []heraldnats.ExportOption{heraldnats.WithPublishTimeout(0)}, heraldnats.ErrInvalid},
		{heraldnats.FromQueue("missing"), "a", nil, herald.ErrNotFound},
		{heraldnats.FromTopic("q"), "a", nil, herald.ErrNotFound},
		{heraldnats.FromExchange("q", "k", "x"), "a", nil, herald.ErrNotFound},
	} {
		if _, err := br.Export(tc.src, tc.subject, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("Export(%v, %q): %v, want %v", tc.src, tc.subject, err, tc.want)
		}
	}
	br.Close()
	if _, err := br.Export(heraldnats.FromQueue("q"), "a"); !errors.Is(err, heraldnats.ErrClosed) {
		t.Errorf("Export after Close: %v, want ErrClosed", err)
	}
	if _, err := heraldnats.New(nil, nil); !errors.Is(err, heraldnats.ErrInvalid) {
		t.Errorf("New(nil, nil): %v", err)
	}
}
