package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldmq/herald"
)

func TestActionsOffByDefault(t *testing.T) {
	b := shop(t)
	publish(t, b, "orders", herald.NewMessage("keep me"))
	log, out := newLog()
	h := Handler(b, WithLogger(log))
	for _, p := range []string{"/api/purge/orders", "/api/move/orders.dead", "/api/publish/orders"} {
		wantError(t, call(t, h, "POST", p, `{"body":"x"}`), http.StatusForbidden, "AllowActions")
	}
	if q, _ := b.LookupQueue("orders"); q.Len() != 1 {
		t.Fatalf("a refused action changed the queue: %d ready", q.Len())
	}
	if got := strings.Count(out.String(), "action refused: actions are off"); got != 3 {
		t.Fatalf("%d refusals logged, want 3:\n%s", got, out)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	b := shop(t)
	publish(t, b, "orders", herald.NewMessage("keep me"))
	log, out := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))
	wantError(t, call(t, h, "POST", "/api/purge/orders", "", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "cross-origin")
	wantError(t, call(t, h, "POST", "/api/purge/orders", "", "Origin", "http://evil.example"), http.StatusForbidden, "cross-origin")
	if q, _ := b.LookupQueue("orders"); q.Len() != 1 {
		t.Fatalf("a cross-origin purge went through: %d ready", q.Len())
	}
	if !strings.Contains(out.String(), "cross-origin request") {
		t.Fatalf("refusal not logged:\n%s", out)
	}
	// The same origin, or a trusted one, is let through.
	decode[purgeResult](t, call(t, h, "POST", "/api/purge/orders", "", "Sec-Fetch-Site", "same-origin"), http.StatusOK)
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin("https://admin.example"); err != nil {
		t.Fatal(err)
	}
	trusting := Handler(b, AllowActions(), WithCrossOriginProtection(cop), WithLogger(log))
	decode[purgeResult](t, call(t, trusting, "POST", "/api/purge/orders", "", "Origin", "https://admin.example", "Sec-Fetch-Site", "cross-site"), http.StatusOK)
}

func TestPurgeAction(t *testing.T) {
	b := shop(t)
	for i := range 4 {
		publish(t, b, "orders", herald.NewMessage(i))
	}
	log, out := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))
	res := decode[purgeResult](t, call(t, h, "POST", "/api/purge/orders", ""), http.StatusOK)
	if res != (purgeResult{Queue: "orders", Purged: 4}) {
		t.Fatalf("purge = %+v", res)
	}
	if q, _ := b.LookupQueue("orders"); q.Stats().Purged != 4 || q.Len() != 0 {
		t.Fatalf("after purge: %+v", q.Stats())
	}
	if !strings.Contains(out.String(), "purged") || !strings.Contains(out.String(), "messages=4") {
		t.Fatalf("purge not logged:\n%s", out)
	}
	wantError(t, call(t, h, "POST", "/api/purge/nope", ""), http.StatusNotFound, "nope")
	wantError(t, call(t, h, "POST", "/api/purge/events", ""), http.StatusNotFound, "topic")
}

// deadLetters rejects n messages of orders so that they land in orders.dead.
func deadLetters(t *testing.T, b *herald.Broker, n int) []string {
	t.Helper()
	q, _ := b.LookupQueue("orders")
	var ids []string
	for i := range n {
		m := &herald.Message{Key: "order.created", Headers: herald.Headers{"n": fmt.Sprint(i)}, Body: i, Priority: 1}
		publish(t, b, "orders", m)
		ids = append(ids, m.ID)
		d, err := q.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		d.Reject()
	}
	return ids
}

func TestMoveAction(t *testing.T) {
	b := shop(t)
	ids := deadLetters(t, b, 3)
	// Not a dead letter: it stays.
	publish(t, b, "orders.dead", &herald.Message{Body: "stray"})
	// A dead letter from a queue no longer there, or from a topic: stays too.
	publish(t, b, "orders.dead", &herald.Message{Body: "orphan", Headers: herald.Headers{herald.HeaderDeathQueue: "gone"}})
	publish(t, b, "orders.dead", &herald.Message{Body: "from a topic", Headers: herald.Headers{herald.HeaderDeathQueue: "events"}})
	log, out := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))

	res := decode[moveResult](t, call(t, h, "POST", "/api/move/orders.dead", ""), http.StatusOK)
	if res.Moved != 3 || res.Left != 3 || len(res.Errors) != 3 {
		t.Fatalf("move = %+v, want 3 moved, 3 left", res)
	}
	for i, want := range []string{"not a dead letter", "gone", "topic"} {
		if !strings.Contains(res.Errors[i], want) {
			t.Errorf("error %d %q does not say %q", i, res.Errors[i], want)
		}
	}
	orders, _ := b.LookupQueue("orders")
	back := orders.Browse(10)
	if len(back) != 3 {
		t.Fatalf("orders holds %d messages after the move, want 3", len(back))
	}
	for i, m := range back {
		if m.ID != ids[i] || m.Body != i || m.Key != "order.created" || m.Priority != 1 || len(m.Headers) != 1 || m.Headers["n"] != fmt.Sprint(i) {
			t.Errorf("moved message %d: %+v headers %v, want ID %s with its own headers only", i, m.Message, m.Headers, ids[i])
		}
	}
	dead, _ := b.LookupQueue("orders.dead")
	s := dead.Stats()
	if s.Acked != 3 || s.Nacked != 3 || s.Ready+s.Delayed != 3 {
		t.Errorf("orders.dead after the move: %+v, want 3 acked (moved) and 3 nacked (left)", s)
	}
	if !strings.Contains(out.String(), "moved=3") || !strings.Contains(out.String(), "left=3") {
		t.Errorf("move not logged:\n%s", out)
	}
	wantError(t, call(t, h, "POST", "/api/move/nope", ""), http.StatusNotFound, "nope")
}

func TestPublishAction(t *testing.T) {
	b := shop(t)
	mustQueue(t, b, "tiny", herald.WithCapacity(1), herald.WithOverflow(herald.OverflowReject))
	mustExchange(t, b, "void", herald.DirectExchange)
	log, out := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))

	res := decode[publishResult](t, call(t, h, "POST", "/api/publish/shop",
		`{"key": "order.created", "headers": {"source": "console"}, "body": "hello"}`), http.StatusOK)
	if res.Name != "shop" || res.ID == "" {
		t.Fatalf("publish = %+v", res)
	}
	q, _ := b.LookupQueue("orders")
	ms := q.Browse(1)
	if len(ms) != 1 || ms[0].ID != res.ID || ms[0].Key != "order.created" || ms[0].Body != "hello" || ms[0].Headers["source"] != "console" {
		t.Fatalf("published message: %+v", ms)
	}
	if !strings.Contains(out.String(), "published a test message") || !strings.Contains(out.String(), res.ID) {
		t.Errorf("publish not logged:\n%s", out)
	}
	decode[publishResult](t, call(t, h, "POST", "/api/publish/tiny", `{}`), http.StatusOK)

	for _, c := range []struct {
		name, body string
		status     int
		says       string
	}{
		{"orders", ``, http.StatusBadRequest, "JSON"},
		{"orders", `   `, http.StatusBadRequest, "JSON"},
		{"orders", `null`, http.StatusBadRequest, "JSON"},
		{"orders", `[1]`, http.StatusBadRequest, "JSON"},
		{"orders", `{"body": 5}`, http.StatusBadRequest, "JSON"},
		{"orders", `{"body": "x"`, http.StatusBadRequest, "JSON"},
		{"orders", `{"bodyy": "x"}`, http.StatusBadRequest, "bodyy"},
		{"orders", `{"body": "x"} {}`, http.StatusBadRequest, "more"},
		{"orders", `{"headers": {"a": 1}}`, http.StatusBadRequest, "JSON"},
		{"orders", `{"body": "` + strings.Repeat("x", maxBody) + `"}`, http.StatusBadRequest, "64 KiB"},
		{"nope", `{"body": "x"}`, http.StatusNotFound, "nope"},
		{"tiny", `{"body": "x"}`, http.StatusConflict, "full"},
		{"void", `{"key": "k"}`, http.StatusConflict, "unroutable"},
	} {
		w := call(t, h, "POST", "/api/publish/"+c.name, c.body)
		if w.Code != c.status {
			t.Errorf("publish %s %.40q = %d, want %d: %s", c.name, c.body, w.Code, c.status, w.Body)
			continue
		}
		wantError(t, w, c.status, c.says)
	}
}

func TestPublishActionClosedBroker(t *testing.T) {
	b := shop(t)
	log, _ := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))
	b.Close()
	wantError(t, call(t, h, "POST", "/api/publish/orders", `{"body": "x"}`), http.StatusServiceUnavailable, "closed")
	// Reading still works: the counters stay.
	decode[stateView](t, call(t, h, "GET", "/api/state", ""), http.StatusOK)
}
