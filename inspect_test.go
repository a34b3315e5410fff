package herald

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestQueueOptions(t *testing.T) {
	b := newTestBroker(t)
	def := mustQueue(t, b, "def")
	want := QueueOptions{
		Capacity: DefaultCapacity, Overflow: OverflowBlock, Priorities: 1,
		RedeliveryOptions: RedeliveryOptions{BackoffMin: DefaultBackoffMin, BackoffMax: DefaultBackoffMax},
	}
	if got := def.Options(); got != want {
		t.Fatalf("default options:\n got %+v\nwant %+v", got, want)
	}
	q := mustQueue(t, b, "q", WithCapacity(7), WithOverflow(OverflowDropOldest), WithTTL(time.Minute),
		WithPriorities(3), WithDedup(time.Second), WithMaxDeliveries(4), WithDeadLetter("dlq"),
		WithDeadLetterKey("dead.q"), WithAckTimeout(time.Hour), WithBackoff(0, time.Second),
		WithTransform(func(m *Message) (*Message, error) { return m, nil }))
	want = QueueOptions{
		Capacity: 7, Overflow: OverflowDropOldest, TTL: time.Minute, Priorities: 3, Dedup: time.Second,
		RedeliveryOptions: RedeliveryOptions{MaxDeliveries: 4, DeadLetter: "dlq", DeadLetterKey: "dead.q", ReplaceKey: true,
			AckTimeout: time.Hour, BackoffMax: time.Second},
		Transform: true,
	}
	if got := q.Options(); got != want {
		t.Fatalf("options:\n got %+v\nwant %+v", got, want)
	}
}

func TestTopicOptions(t *testing.T) {
	b := newTestBroker(t)
	tp, err := b.Topic("t", WithCapacity(5), WithOverflow(OverflowDropOldest), WithMaxAge(time.Hour), WithDedup(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := TopicOptions{Capacity: 8, Overflow: OverflowDropOldest, MaxAge: time.Hour, Dedup: time.Minute}
	if got := tp.Options(); got != want {
		t.Fatalf("options:\n got %+v\nwant %+v", got, want)
	}
}

func TestTopicReaders(t *testing.T) {
	b := newTestBroker(t)
	tp, _ := b.Topic("t")
	if got := tp.Readers(); len(got) != 0 {
		t.Fatalf("Readers of a topic nobody reads = %+v", got)
	}
	plain, err := tp.Subscribe(WithMaxDeliveries(2))
	if err != nil {
		t.Fatal(err)
	}
	var members []*Subscription
	for range 2 {
		s, err := tp.Subscribe(WithGroup("g"), WithDeadLetter("dlq"))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, s)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := tp.Publish(ctx, NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := members[0].Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	settleOrFail(t, d.Ack)

	got := tp.Readers()
	red := RedeliveryOptions{BackoffMin: DefaultBackoffMin, BackoffMax: DefaultBackoffMax}
	plainRed, groupRed := red, red
	plainRed.MaxDeliveries, groupRed.DeadLetter = 2, "dlq"
	want := []TopicReader{
		{Members: 1, Redelivery: plainRed, Stats: SubscriptionStats{Lag: 3}},
		{Group: "g", Members: 2, Redelivery: groupRed, Stats: SubscriptionStats{Delivered: 1, Acked: 1, Lag: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Readers:\n got %+v\nwant %+v", got, want)
	}

	plain.Close()
	for _, m := range members {
		m.Close()
	}
	got = tp.Readers()
	if len(got) != 1 || got[0].Group != "g" || got[0].Members != 0 || got[0].Stats.Lag != 2 {
		t.Fatalf("Readers after every Close = %+v, want the group alone, no member, lag 2", got)
	}
}

func TestExchangeBindingsAndAlternate(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "q")
	mustQueue(t, b, "r")
	hx, err := b.Exchange("hx", HeadersExchange, WithAlternate("alt"))
	if err != nil {
		t.Fatal(err)
	}
	h := Headers{"type": "invoice"}
	if err := hx.Bind("q", "invoices", MatchAny(h)); err != nil {
		t.Fatal(err)
	}
	if err := hx.Bind("r", "all", WithTransform(func(m *Message) (*Message, error) { return m, nil })); err != nil {
		t.Fatal(err)
	}
	h["type"] = "changed after Bind"
	want := []Binding{
		{Dest: "q", Key: "invoices", Headers: Headers{"type": "invoice"}, MatchAny: true},
		{Dest: "r", Key: "all", Transform: true},
	}
	got := hx.Bindings()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Bindings:\n got %+v\nwant %+v", got, want)
	}
	got[0].Headers["type"] = "changed by the caller"
	if again := hx.Bindings(); !reflect.DeepEqual(again, want) {
		t.Fatalf("Bindings after the caller changed a copy: %+v", again)
	}
	if a := hx.Alternate(); a != "alt" {
		t.Fatalf("Alternate = %q, want alt", a)
	}

	tx, _ := b.Exchange("tx", TopicExchange)
	if got := tx.Bindings(); len(got) != 0 || tx.Alternate() != "" {
		t.Fatalf("a new exchange: Bindings %v, Alternate %q", got, tx.Alternate())
	}
	for _, k := range []string{"a.*", "#"} {
		if err := tx.Bind("q", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Unbind("q", "a.*"); err != nil {
		t.Fatal(err)
	}
	if got := tx.Bindings(); !reflect.DeepEqual(got, []Binding{{Dest: "q", Key: "#"}}) {
		t.Fatalf("Bindings after Unbind = %+v", got)
	}
}
