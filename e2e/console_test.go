package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/console"
	"github.com/heraldmq/herald/heraldtest"
)

// shop declares what the tests look at: queue orders dead-lettering to
// orders.dead, topic events read by a subscription and a group, exchange
// shop routing to them, and headers exchange billing.
func shop(t *testing.T) *herald.Broker {
	t.Helper()
	b := heraldtest.NewBroker(t)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.Queue("orders", herald.WithMaxDeliveries(3), herald.WithDeadLetter("orders.dead"))
	check(err)
	_, err = b.Queue("orders.dead")
	check(err)
	_, err = b.Queue("invoices", herald.WithPriorities(3))
	check(err)
	events, err := b.Topic("events", herald.WithCapacity(64), herald.WithOverflow(herald.OverflowDropOldest))
	check(err)
	for _, opts := range [][]herald.SubscribeOption{nil, {herald.WithGroup("mailer")}} {
		s, err := events.Subscribe(opts...)
		check(err)
		t.Cleanup(func() { s.Close() })
	}
	x, err := b.Exchange("shop", herald.TopicExchange, herald.WithAlternate("unrouted"))
	check(err)
	billing, err := b.Exchange("billing", herald.HeadersExchange)
	check(err)
	check(x.Bind("orders", "order.created"))
	check(x.Bind("events", "order.*"))
	check(x.Bind("billing", "order.paid"))
	check(billing.Bind("invoices", "invoices", herald.MatchAll(herald.Headers{"type": "invoice"})))
	return b
}

func publishN(t *testing.T, b *herald.Broker, name string, n int, m func(i int) *herald.Message) {
	t.Helper()
	for i := range n {
		if err := b.Publish(context.Background(), name, m(i)); err != nil {
			t.Fatalf("publish to %s: %v", name, err)
		}
	}
}

// deadLetters rejects n messages taken from orders: they land in
// orders.dead with their x-death headers.
func deadLetters(t *testing.T, b *herald.Broker, n int) {
	t.Helper()
	q, _ := b.LookupQueue("orders")
	for range n {
		d, err := q.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Reject(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPageLoadsWithoutErrors loads a console with something in every
// section, opens the message browser on dead letters, and checks that the
// page reported no error (no exception, no console.error, no failed load,
// no Content-Security-Policy violation) while it refreshed.
func TestPageLoadsWithoutErrors(t *testing.T) {
	b := shop(t)
	publishN(t, b, "shop", 6, func(i int) *herald.Message {
		return &herald.Message{Key: "order.created", Headers: herald.Headers{"customer": "ada"},
			Body: map[string]any{"order": i, "total": 9.5 * float64(i)}}
	})
	publishN(t, b, "shop", 3, func(i int) *herald.Message {
		return &herald.Message{Key: "order.paid", Headers: herald.Headers{"type": "invoice"}, Body: []byte(`{"invoice":` + fmt.Sprint(i) + `}`), Priority: uint8(i)}
	})
	deadLetters(t, b, 2)
	url, _ := serve(t, b, console.AllowActions())
	br := newBrowser(t)
	br.open(url)

	br.waitCell("queues", "orders", "ready", 4)
	br.waitCell("queues", "orders.dead", "ready", 2)
	br.waitCell("queues", "invoices", "ready", 3)
	br.waitCell("topics", "events", "retained", 9) // order.created and order.paid
	br.do("the graph", chromedp.WaitReady(chromedp.CSS(`#graph g.node[data-name="invoices"]`)),
		chromedp.WaitReady(chromedp.CSS(`#graph path.edge.alt[data-to="unrouted"]`)))
	if got := eval[int](br, `document.querySelectorAll("#graph g.node").length`); got != 6 {
		t.Errorf("graph has %d nodes, want 6 (2 exchanges, 2 queues, a topic, the missing alternate)", got)
	}
	if got := eval[int](br, `document.querySelectorAll('#graph path.edge').length`); got != 5 {
		t.Errorf("graph has %d edges, want 5", got)
	}

	// The message browser shows the dead letters with their x-death headers.
	br.do("browse orders.dead", chromedp.Click(chromedp.CSS(`button[data-action="browse"][data-name="orders.dead"]`)),
		chromedp.WaitReady(chromedp.CSS(`#messages tbody tr.dead td[data-col="death"]`)))
	if hash := eval[string](br, `location.hash`); hash != "#queue/orders.dead" {
		t.Errorf("location.hash = %q after browsing orders.dead, want a link to it", hash)
	}
	death := br.text(`#messages tbody tr.dead td[data-col="death"]`)
	for _, want := range []string{"x-death-queue", "orders", "x-death-reason", "rejected"} {
		if !strings.Contains(death, want) {
			t.Errorf("dead letter's x-death cell %q lacks %q", death, want)
		}
	}
	if body := br.text(`#messages tbody tr td[data-col="body"]`); !strings.Contains(body, "map[string]interface {}") || !strings.Contains(body, "order:0") {
		t.Errorf("body cell %q: want the type and the %%+v of a map", body)
	}
	// The []byte bodies of invoices are shown as text.
	br.do("browse invoices", chromedp.Click(chromedp.CSS(`button[data-action="browse"][data-name="invoices"]`)),
		chromedp.WaitReady(chromedp.JSPath(`(c => c && c.textContent.includes('order.paid') ? c : null)(`+
			`document.querySelector('#messages tbody tr td[data-col="key"]'))`)))
	if body := br.text(`#messages tbody tr td[data-col="body"]`); !strings.Contains(body, "[]uint8") || !strings.Contains(body, `{"invoice":2}`) {
		t.Errorf("invoice body cell %q: want []uint8 and the bytes as text, priority 2 first", body)
	}

	// The link opens the same browser (after leaving: a new fragment alone
	// would not reload the page).
	br.do("leave", chromedp.Navigate("about:blank"))
	br.open(url + "#queue/orders.dead")
	br.do("browser opened by its link", chromedp.WaitReady(chromedp.CSS(`#messages tbody tr.dead`)))

	// A few refreshes more, each of which could go wrong.
	before := eval[string](br, `document.getElementById('status-text').textContent`)
	br.do("refreshes", chromedp.WaitReady(chromedp.JSPath(
		`(t => document.getElementById('status-text').textContent !== t ? document.body : null)(`+jsString(before)+`)`)))
	if problems := br.problemsSoFar(); len(problems) > 0 {
		t.Errorf("the page reported %d problem(s):\n%s", len(problems), strings.Join(problems, "\n"))
	}
	br.screenshot(true)
}

// TestQueueTableUpdatesLive publishes while the page is open: the table
// follows without a reload.
func TestQueueTableUpdatesLive(t *testing.T) {
	b := shop(t)
	url, _ := serve(t, b)
	br := newBrowser(t)
	br.open(url)
	br.waitCell("queues", "orders", "ready", 0)
	loaded := eval[float64](br, `performance.timeOrigin`)

	msg := func(i int) *herald.Message { return &herald.Message{Key: "order.created", Body: i} }
	publishN(t, b, "shop", 5, msg)
	br.waitCell("queues", "orders", "ready", 5)
	publishN(t, b, "orders", 7, msg)
	br.waitCell("queues", "orders", "ready", 12)
	br.do("total", chromedp.WaitReady(chromedp.CSS(`#total-ready[data-value="12"]`)))
	br.waitCell("topics", "events", "retained", 5)

	q, _ := b.LookupQueue("orders")
	for range 3 {
		d, err := q.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
	}
	br.waitCell("queues", "orders", "ready", 9)
	br.waitCell("queues", "orders", "acked", 3)
	if again := eval[float64](br, `performance.timeOrigin`); again != loaded {
		t.Errorf("the page was reloaded")
	}
	if problems := br.problemsSoFar(); len(problems) > 0 {
		t.Errorf("the page reported:\n%s", strings.Join(problems, "\n"))
	}
	br.screenshot(false)
}

// TestPurgeAndMoveBackButtons works the actions through the page (the
// purge and move-back buttons, and the test-message form) and checks the
// counts it shows after.
func TestPurgeAndMoveBackButtons(t *testing.T) {
	b := shop(t)
	publishN(t, b, "orders", 7, func(i int) *herald.Message { return &herald.Message{Key: "order.created", Body: i} })
	deadLetters(t, b, 3) // orders: 4 ready; orders.dead: 3
	url, logs := serve(t, b, console.AllowActions())
	br := newBrowser(t)
	br.open(url)
	br.waitCell("queues", "orders", "ready", 4)
	br.waitCell("queues", "orders.dead", "ready", 3)

	// Purge asks for a second click.
	purge := chromedp.CSS(`button[data-action="purge"][data-name="orders"]`)
	br.do("arm purge", chromedp.Click(purge), chromedp.WaitReady(chromedp.CSS(`button.confirm[data-action="purge"][data-name="orders"]`)))
	br.do("confirm purge", chromedp.Click(purge))
	br.waitCell("queues", "orders", "ready", 0)
	br.waitCell("queues", "orders", "purged", 4)
	br.do("notice", chromedp.WaitVisible(chromedp.ID("notice")))
	if n := br.text("#notice"); !strings.Contains(n, "Purged 4 messages from orders") {
		t.Errorf("notice %q after the purge", n)
	}
	if q, _ := b.LookupQueue("orders"); q.Stats().Purged != 4 {
		t.Errorf("orders stats after the purge: %+v", q.Stats())
	}

	// Move back: the dead letters return to orders.
	br.do("move back", chromedp.Click(chromedp.CSS(`button[data-action="move"][data-name="orders.dead"]`)))
	br.waitCell("queues", "orders.dead", "ready", 0)
	br.waitCell("queues", "orders", "ready", 3)
	br.do("notice", chromedp.WaitReady(chromedp.JSPath(`(n => n.textContent.includes('Moved 3') ? n : null)(document.getElementById('notice'))`)))
	q, _ := b.LookupQueue("orders")
	for _, m := range q.Browse(10) {
		if _, dead := m.Headers[herald.HeaderDeathQueue]; dead {
			t.Errorf("moved message %s still has x-death headers: %v", m.ID, m.Headers)
		}
	}
	// Publish a test message with the form.
	br.do("fill the form",
		chromedp.SetValue(chromedp.ID("pub-dest"), "orders"),
		chromedp.SendKeys(chromedp.ID("pub-key"), "order.test"),
		chromedp.SendKeys(chromedp.ID("pub-headers"), "source=e2e\ntrace = 42"),
		chromedp.SendKeys(chromedp.ID("pub-body"), "hello from the console"),
		chromedp.Click(chromedp.ID("pub-send")))
	br.waitCell("queues", "orders", "ready", 4)
	br.do("notice", chromedp.WaitReady(chromedp.JSPath(`(n => n.textContent.startsWith('Published ') ? n : null)(document.getElementById('notice'))`)))
	ms := q.Browse(10)
	if last := ms[len(ms)-1]; last.Key != "order.test" || last.Body != "hello from the console" ||
		last.Headers["source"] != "e2e" || last.Headers["trace"] != "42" {
		t.Errorf("the published test message: %+v, headers %v", last.Message, last.Headers)
	}

	for _, want := range []string{"herald console: purged", "messages=4", "herald console: moved dead letters back", "moved=3",
		"herald console: published a test message"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("action log lacks %q:\n%s", want, logs)
		}
	}
	if problems := br.problemsSoFar(); len(problems) > 0 {
		t.Errorf("the page reported:\n%s", strings.Join(problems, "\n"))
	}
	br.screenshot(false)
}

// TestActionRefusedWithoutAllowActions: the buttons are disabled, and a
// POST from the page itself is refused with 403 all the same.
func TestActionRefusedWithoutAllowActions(t *testing.T) {
	b := shop(t)
	publishN(t, b, "orders", 2, func(i int) *herald.Message { return herald.NewMessage(i) })
	url, logs := serve(t, b)
	br := newBrowser(t)
	br.open(url)
	br.waitCell("queues", "orders", "ready", 2)
	if !eval[bool](br, `document.querySelector('button[data-action="purge"][data-name="orders"]').disabled`) {
		t.Error("the purge button is enabled in a read-only console")
	}
	if eval[bool](br, `document.getElementById('publisher') !== null`) {
		t.Error("a read-only console shows the test publisher")
	}
	res := eval[string](br, `fetch('api/purge/orders', {method: 'POST'}).then(r => r.json().then(j => r.status + ' ' + j.error))`)
	if !strings.HasPrefix(res, "403 ") || !strings.Contains(res, "AllowActions") {
		t.Errorf("POST api/purge/orders from the page = %q, want 403 naming AllowActions", res)
	}
	if q, _ := b.LookupQueue("orders"); q.Len() != 2 {
		t.Errorf("orders holds %d after a refused purge, want 2", q.Len())
	}
	if !strings.Contains(logs.String(), "action refused: actions are off") {
		t.Errorf("the refusal was not logged:\n%s", logs)
	}
	br.screenshot(false)
}

// TestCrossOriginPostRefused: a page on another site posts to the console
// (a classic cross-site request forgery, a form that submits itself, and a
// fetch): the console refuses both, though it allows actions.
func TestCrossOriginPostRefused(t *testing.T) {
	b := shop(t)
	publishN(t, b, "orders", 2, func(i int) *herald.Message { return herald.NewMessage(i) })
	consoleURL, logs := serve(t, b, console.AllowActions())
	// The same test server seen as another site: localhost, not 127.0.0.1.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id="f" method="POST" action="%[1]sapi/purge/orders"></form>
<button id="go" onclick="document.getElementById('f').submit()">go</button>
<script>
fetch('%[1]sapi/purge/orders', {method: 'POST', mode: 'no-cors'}).then(
  () => document.title = 'fetched', () => document.title = 'fetch failed');
</script>`, consoleURL)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	if !strings.Contains(consoleURL, "127.0.0.1") {
		t.Fatalf("console at %s: want 127.0.0.1, so that localhost is another site", consoleURL)
	}

	br := newBrowser(t)
	br.do("open the other site", chromedp.Navigate(evilURL),
		chromedp.WaitReady(chromedp.JSPath(`document.title !== 'evil' ? document.body : null`)))
	if title := eval[string](br, `document.title`); title != "fetched" {
		t.Fatalf("the cross-site fetch: %s", title)
	}
	// The form navigates to the console's answer.
	br.do("submit the form", chromedp.Click(chromedp.ID("go")),
		chromedp.WaitReady(chromedp.JSPath(`location.href.includes('/api/purge/') ? document.body : null`)))
	answer := eval[string](br, `document.body.innerText`)
	if !strings.Contains(answer, "cross-origin request refused") {
		t.Errorf("the console answered the cross-site form with %q", answer)
	}
	if q, _ := b.LookupQueue("orders"); q.Len() != 2 || q.Stats().Purged != 0 {
		t.Errorf("orders after two cross-site purges: %+v", q.Stats())
	}
	if got := strings.Count(logs.String(), "action refused: cross-origin request"); got != 2 {
		t.Errorf("%d cross-origin refusals logged, want 2:\n%s", got, logs)
	}

	// The console's own page, same origin, may purge.
	br.open(consoleURL)
	res := eval[string](br, `fetch('api/purge/orders', {method: 'POST'}).then(r => r.json().then(j => r.status + ' ' + j.purged))`)
	if res != "200 2" {
		t.Errorf("same-origin POST api/purge/orders = %q, want 200 2", res)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
