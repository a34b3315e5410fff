package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

// shop declares a small broker: queues orders (dead-lettering to
// orders.dead) and orders.dead, topic events with a subscription and a
// group, exchanges shop (topic kind) and billing (headers).
func shop(t testing.TB) *herald.Broker {
	t.Helper()
	b := newTestBroker(t)
	mustQueue(t, b, "orders", herald.WithMaxDeliveries(2), herald.WithDeadLetter("orders.dead"), herald.WithTTL(time.Hour))
	mustQueue(t, b, "orders.dead")
	events := mustTopic(t, b, "events", herald.WithCapacity(8))
	sub, err := events.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	g, err := events.Subscribe(herald.WithGroup("mailer"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	x := mustExchange(t, b, "shop", herald.TopicExchange, herald.WithAlternate("lost"))
	billing := mustExchange(t, b, "billing", herald.HeadersExchange)
	for _, err := range []error{
		x.Bind("orders", "order.*"), x.Bind("events", "#"), x.Bind("billing", "order.paid"),
		billing.Bind("orders", "invoices", herald.MatchAny(herald.Headers{"type": "invoice"})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestState(t *testing.T) {
	b := shop(t)
	for i := range 3 {
		publish(t, b, "shop", &herald.Message{Key: "order.created", Body: i})
	}
	st := decode[stateView](t, call(t, Handler(b), "GET", "/api/state", ""), http.StatusOK)

	if st.Actions {
		t.Error("actions on without AllowActions")
	}
	o := st.Overview
	if o.Queues != 2 || o.Topics != 1 || o.Exchanges != 2 || o.Ready != 3 || o.Retained != 3 || o.Published != 6 {
		t.Errorf("overview %+v", o)
	}
	if o.RateWindow != 0 {
		t.Errorf("rate window %v after one look, want 0: rates need two samples", o.RateWindow)
	}
	if len(st.Queues) != 2 {
		t.Fatalf("queues %+v", st.Queues)
	}
	q, dead := st.Queues[0], st.Queues[1]
	wantQ := queueOptionsView{Capacity: herald.DefaultCapacity, Overflow: "block", TTL: "1h0m0s", Priorities: 1,
		redeliveryView: redeliveryView{MaxDeliveries: 2, DeadLetter: "orders.dead", Backoff: "10ms–5s"}}
	if q.Name != "orders" || q.Ready != 3 || q.Published != 3 || q.Options != wantQ || q.DeadLetterTarget {
		t.Errorf("orders %+v", q)
	}
	if dead.Name != "orders.dead" || !dead.DeadLetterTarget {
		t.Errorf("orders.dead %+v, want it marked as a dead-letter target", dead)
	}
	if len(st.Topics) != 1 {
		t.Fatalf("topics %+v", st.Topics)
	}
	tp := st.Topics[0]
	if tp.Name != "events" || tp.Retained != 3 || tp.Options.Capacity != 8 || len(tp.Readers) != 2 ||
		tp.Readers[0].Group != "" || tp.Readers[0].Lag != 3 || tp.Readers[1].Group != "mailer" || tp.Readers[1].Lag != 3 ||
		tp.Readers[1].Members != 1 {
		t.Errorf("events %+v", tp)
	}
	wantX := []exchangeView{
		{Name: "billing", Kind: "headers", Bindings: []bindingView{
			{Dest: "orders", DestKind: "queue", Key: "invoices", Headers: herald.Headers{"type": "invoice"}, MatchAny: true}}},
		{Name: "shop", Kind: "topic", Alternate: "lost", Bindings: []bindingView{
			{Dest: "orders", DestKind: "queue", Key: "order.*"},
			{Dest: "events", DestKind: "topic", Key: "#"},
			{Dest: "billing", DestKind: "exchange", Key: "order.paid"},
		}},
	}
	if !reflect.DeepEqual(st.Exchanges, wantX) {
		t.Errorf("exchanges\n got %+v\nwant %+v", st.Exchanges, wantX)
	}
	if len(st.Graph.Nodes) != 5 || len(st.Graph.Edges) != 5 { // billing, shop, events, orders, lost
		t.Errorf("graph %+v", st.Graph)
	}

	// The single views agree with the whole.
	if one := decode[queueView](t, call(t, Handler(b), "GET", "/api/queues/orders", ""), http.StatusOK); one.Name != "orders" || one.Ready != 3 {
		t.Errorf("api/queues/orders = %+v", one)
	}
	if one := decode[topicView](t, call(t, Handler(b), "GET", "/api/topics/events", ""), http.StatusOK); one.Retained != 3 {
		t.Errorf("api/topics/events = %+v", one)
	}
	if one := decode[exchangeView](t, call(t, Handler(b), "GET", "/api/exchanges/shop", ""), http.StatusOK); !reflect.DeepEqual(one, wantX[1]) {
		t.Errorf("api/exchanges/shop = %+v", one)
	}
	if all := decode[[]topicView](t, call(t, Handler(b), "GET", "/api/topics", ""), http.StatusOK); len(all) != 1 {
		t.Errorf("api/topics = %+v", all)
	}
	if all := decode[[]exchangeView](t, call(t, Handler(b), "GET", "/api/exchanges", ""), http.StatusOK); len(all) != 2 {
		t.Errorf("api/exchanges = %+v", all)
	}
	if g := decode[graphView](t, call(t, Handler(b), "GET", "/api/graph", ""), http.StatusOK); !reflect.DeepEqual(g, st.Graph) {
		t.Errorf("api/graph = %+v, want %+v", g, st.Graph)
	}
	if ov := decode[overviewView](t, call(t, Handler(b), "GET", "/api/overview", ""), http.StatusOK); ov.Published != 6 {
		t.Errorf("api/overview = %+v", ov)
	}
	names := decode[[]nameView](t, call(t, Handler(b), "GET", "/api/names", ""), http.StatusOK)
	wantNames := []nameView{{"billing", "exchange"}, {"events", "topic"}, {"orders", "queue"}, {"orders.dead", "queue"}, {"shop", "exchange"}}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("api/names = %+v", names)
	}
	for _, p := range []string{"/api/queues/events", "/api/topics/orders", "/api/exchanges/orders"} {
		wantError(t, call(t, Handler(b), "GET", p, ""), http.StatusNotFound, "not")
	}
}

func TestEmptyBroker(t *testing.T) {
	b := newTestBroker(t)
	w := call(t, Handler(b), "GET", "/api/state", "")
	for _, want := range []string{`"queues":[]`, `"topics":[]`, `"exchanges":[]`, `"nodes":[]`, `"edges":[]`, `"series":[]`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("state of an empty broker lacks %s: lists are [], never null", want)
		}
	}
}

type stringer struct{ name string }

func (s stringer) String() string { return "stringer " + s.name }

type panicky struct{}

func (panicky) String() string { panic("String of a bad body") }

func TestMessagesOfAQueue(t *testing.T) {
	b := shop(t)
	h := Handler(b)
	bodies := []any{"text", []byte("bytes"), json.RawMessage(`{"a":1}`), []byte{0xff, 'x'}, nil,
		struct{ ID int }{7}, stringer{"s"}, panicky{}, strings.Repeat("é", previewLimit)}
	for i, body := range bodies {
		publish(t, b, "orders", &herald.Message{Key: fmt.Sprint("k", i), Headers: herald.Headers{"h": "v"}, Body: body})
	}
	res := decode[messagesView](t, call(t, h, "GET", "/api/messages/orders", ""), http.StatusOK)
	if res.Kind != "queue" || res.Total != len(bodies) || len(res.Messages) != len(bodies) {
		t.Fatalf("messages: kind %q total %d, %d messages", res.Kind, res.Total, len(res.Messages))
	}
	want := []bodyView{
		{Type: "string", Preview: "text"},
		{Type: "[]uint8", Preview: "bytes"},
		{Type: "json.RawMessage", Preview: `{"a":1}`},
		{Type: "[]uint8", Preview: `"\xffx"`},
		{Type: "nil"},
		{Type: "struct { ID int }", Preview: "{ID:7}"},
		{Type: "console.stringer", Preview: "stringer s"},
		{Type: "console.panicky", Preview: "%!v(PANIC=String method: String of a bad body)"}, // fmt recovers it
		{Type: "string", Preview: strings.Repeat("é", previewLimit/2), Truncated: true},
	}
	for i, m := range res.Messages {
		if m.Body != want[i] {
			t.Errorf("message %d body %+v, want %+v", i, m.Body, want[i])
		}
		if m.Key != fmt.Sprint("k", i) || m.Headers["h"] != "v" || m.ID == "" || m.Deliveries != 0 || m.TTL != "" {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	if n := decode[messagesView](t, call(t, h, "GET", "/api/messages/orders?n=2", ""), http.StatusOK); len(n.Messages) != 2 || n.Total != len(bodies) {
		t.Errorf("n=2: %d messages of %d", len(n.Messages), n.Total)
	}
	for _, bad := range []string{"?n=0", "?n=-1", "?n=x", "?n=501", "?from=3"} {
		wantError(t, call(t, h, "GET", "/api/messages/orders"+bad, ""), http.StatusBadRequest)
	}
	wantError(t, call(t, h, "GET", "/api/messages/shop", ""), http.StatusBadRequest, "exchange")
	wantError(t, call(t, h, "GET", "/api/messages/nope", ""), http.StatusNotFound, "nope")
	if q, _ := b.LookupQueue("orders"); q.Len() != len(bodies) {
		t.Fatalf("browsing took messages: %d left", q.Len())
	}
}

func TestMessagesDeadLetter(t *testing.T) {
	b := shop(t)
	publish(t, b, "orders", &herald.Message{Key: "order.created", Body: "doomed", Headers: herald.Headers{"own": "1"}})
	q, _ := b.LookupQueue("orders")
	d, err := q.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d.Reject()
	res := decode[messagesView](t, call(t, Handler(b), "GET", "/api/messages/orders.dead", ""), http.StatusOK)
	if len(res.Messages) != 1 {
		t.Fatalf("dead letters: %+v", res)
	}
	m := res.Messages[0]
	if m.Death[herald.HeaderDeathQueue] != "orders" || m.Death[herald.HeaderDeathReason] != herald.ReasonRejected ||
		m.Death[herald.HeaderDeathAttempts] != "1" || m.Death[herald.HeaderDeathTime] == "" {
		t.Errorf("x-death headers %v", m.Death)
	}
	if !reflect.DeepEqual(m.Headers, herald.Headers{"own": "1"}) {
		t.Errorf("headers %v, want the message's own, without x-death", m.Headers)
	}
}

func TestMessagesOfATopic(t *testing.T) {
	b := newTestBroker(t)
	mustTopic(t, b, "events", herald.WithCapacity(8)) // no subscription holds it back
	for i := 1; i <= 12; i++ {
		publish(t, b, "events", herald.NewMessage(i))
	}
	h := Handler(b)
	seqs := func(q string) []uint64 {
		var out []uint64
		for _, m := range decode[messagesView](t, call(t, h, "GET", "/api/messages/events"+q, ""), http.StatusOK).Messages {
			out = append(out, m.Seq)
		}
		return out
	}
	for q, want := range map[string][]uint64{
		"":              {5, 6, 7, 8, 9, 10, 11, 12},
		"?n=3":          {10, 11, 12},
		"?from=0&n=2":   {5, 6},
		"?from=11":      {11, 12},
		"?from=13":      nil,
		"?n=20&from=99": nil,
	} {
		if got := seqs(q); !reflect.DeepEqual(got, want) {
			t.Errorf("api/messages/events%s: seqs %v, want %v", q, got, want)
		}
	}
	wantError(t, call(t, h, "GET", "/api/messages/events?from=-1", ""), http.StatusBadRequest)
}
