package herald

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldmq/herald/internal/match"
)

// Exchanges change their routing tables one binding at a time. Random
// binds and unbinds on every kind, each followed by publishes checked
// against a model rebuilt from the bindings left: the same destinations, in
// the order each was bound from (a destination unbound entirely and bound
// again counts from then).
func TestExchangeBindUnbindMatchesModel(t *testing.T) {
	dests := []string{"d0", "d1", "d2", "d3", "d4", "d5"}
	for _, kind := range []ExchangeKind{DirectExchange, FanoutExchange, TopicExchange, HeadersExchange} {
		t.Run(kind.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(kind)))
			b := newTestBroker(t)
			log := &orderLog{}
			addRecorders(b, log, dests...)
			x := mustExchange(t, b, "x", kind)
			type bnd struct {
				dest, key string
				h         Headers
			}
			var bound []bnd
			since := map[string]int{}
			keys := []string{"a", "b", "a.b", "b.a", "*", "#", "a.#", "*.a"}
			for step := range 400 {
				if len(bound) > 0 && r.IntN(3) == 0 {
					i := r.IntN(len(bound))
					if err := x.Unbind(bound[i].dest, bound[i].key); err != nil {
						t.Fatalf("step %d: Unbind(%q, %q): %v", step, bound[i].dest, bound[i].key, err)
					}
					dest := bound[i].dest
					bound = slices.Delete(bound, i, i+1)
					if !slices.ContainsFunc(bound, func(b bnd) bool { return b.dest == dest }) {
						delete(since, dest)
					}
				} else {
					nb := bnd{dest: dests[r.IntN(len(dests))], key: keys[r.IntN(len(keys))]}
					if kind == DirectExchange {
						nb.key = strings.ReplaceAll(strings.ReplaceAll(nb.key, "*", "c"), "#", "d")
					}
					var opts []BindOption
					if kind == HeadersExchange {
						nb.h = Headers{"k": fmt.Sprint(r.IntN(3))}
						opts = append(opts, MatchAll(nb.h))
					}
					if slices.ContainsFunc(bound, func(b bnd) bool { return b.dest == nb.dest && b.key == nb.key }) {
						continue
					}
					mustBind(t, x, nb.dest, nb.key, opts...)
					bound = append(bound, nb)
					if _, ok := since[nb.dest]; !ok {
						since[nb.dest] = step
					}
				}
				for _, key := range []string{"a", "b", "a.b", "b.a", "c"} {
					h := Headers{"k": fmt.Sprint(r.IntN(3))}
					var want []string
					for _, bd := range bound {
						var ok bool
						switch kind {
						case DirectExchange:
							ok = bd.key == key
						case FanoutExchange:
							ok = true
						case TopicExchange:
							ok = match.MatchPattern(bd.key, key)
						case HeadersExchange:
							ok = match.MatchHeadersAll(bd.h, h)
						}
						if ok && !slices.Contains(want, bd.dest) {
							want = append(want, bd.dest)
						}
					}
					slices.SortFunc(want, func(a, b string) int { return since[a] - since[b] })
					x.Publish(t.Context(), &Message{Key: key, Headers: h})
					if got := log.take(); !slices.Equal(got, want) {
						t.Fatalf("step %d: key %q headers %v reached %v, want %v\nbindings %v", step, key, h, got, want, bound)
					}
				}
			}
		})
	}
}

// The transform of a destination's earliest binding applies; when that
// binding goes, the next one's does.
func TestExchangeTransformOfEarliestBinding(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	x := mustExchange(t, b, "x", DirectExchange)
	tag := func(s string) Transform {
		return func(m *Message) (*Message, error) {
			c := *m
			c.Body = s
			return &c, nil
		}
	}
	mustBind(t, x, "q", "a", WithTransform(tag("first")))
	mustBind(t, x, "q", "b", WithTransform(tag("second")))
	mustBind(t, x, "q", "c")
	for _, c := range []struct{ unbind, want string }{{"", "first"}, {"a", "second"}, {"b", "<nil>"}} {
		if c.unbind != "" {
			if err := x.Unbind("q", c.unbind); err != nil {
				t.Fatal(err)
			}
		}
		publishKey(x, "c")
		if got := receiveAll(t, q); len(got) != 1 || fmt.Sprint(got[0].Body) != c.want {
			t.Fatalf("after unbinding %q: got %v, want one message with body %s", c.unbind, got, c.want)
		}
	}
}

// orderRecorder is a destination that logs the order in which it is put to.
type orderRecorder struct {
	name string
	log  *orderLog
}

type orderLog struct {
	mu    sync.Mutex
	names []string
}

func (r *orderRecorder) put(ctx context.Context, m *Message, internal bool) error {
	r.log.mu.Lock()
	r.log.names = append(r.log.names, r.name)
	r.log.mu.Unlock()
	return nil
}

func (r *orderRecorder) kind() string { return "recorder" }

func (l *orderLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.names
	l.names = nil
	return got
}

func addRecorders(b *Broker, log *orderLog, names ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		b.names.add(n, &orderRecorder{name: n, log: log})
	}
}

// topicCases are RabbitMQ's topic rules, as seen through an exchange.
var topicCases = []struct {
	pattern, key string
	want         bool
}{
	{"#", "", true},
	{"#", "a", true},
	{"#", "a.b.c", true},
	{"#", ".", true},
	{"*", "", false},
	{"*", "a", true},
	{"*", "a.b", false},
	{"*", ".", false},
	{"", "", true},
	{"", "a", false},
	{"a", "a", true},
	{"a", "A", false},
	{"a", "a.b", false},
	{"a", "", false},
	{"a.b", "a.b", true},
	{"a.b", "a.b.c", false},
	{"a.b", "a", false},
	{"a.#", "a", true},
	{"a.#", "a.b", true},
	{"a.#", "a.b.c", true},
	{"a.#", "b", false},
	{"a.#", "", false},
	{"a.#", "ab", false},
	{"#.a", "a", true},
	{"#.a", "b.a", true},
	{"#.a", "a.b", false},
	{"a.#.b", "a.b", true},
	{"a.#.b", "a.x.b", true},
	{"a.#.b", "a.x.y.b", true},
	{"a.#.b", "a", false},
	{"a.#.b", "a.b.c", false},
	{"a.#.b", "b.a.b", false},
	{"a.*", "a.b", true},
	{"a.*", "a", false},
	{"a.*", "a.b.c", false},
	{"a.*", "a.", true}, // "a." is the words "a" and ""
	{"*.b", "a.b", true},
	{"*.b", ".b", true},
	{"*.b", "b", false},
	{"*.*", "a.b", true},
	{"*.*", ".", true},
	{"*.*", "a", false},
	{"*.*", "", false},
	{"*.#", "", false},
	{"*.#", "a", true},
	{"*.#", "a.b.c", true},
	{"#.*", "", false},
	{"#.*", "a", true},
	{"#.#", "", true},
	{"#.#", "a.b", true},
	{"a.*.#", "a", false},
	{"a.*.#", "a.b", true},
	{"a.*.#", "a.b.c", true},
	{"a.#.#.b", "a.b", true},
	{"a.*.b", "a..b", true},
	{"*.b.*", "a.b", false},
	{"#.b.#", "b", true},
	{"#.b.#", "a.b.c", true},
	{"#.b.#", "a.c", false},
	{"a.*.*.d", "a.b.c.d", true},
	{"a.*.*.d", "a.b.d", false},
	{"stock.€.*", "stock.€.usd", true},
}

// TestTopicExchangeConformance binds each pattern on its own exchange and
// queue and checks that the key reaches the queue exactly when it should,
// and that a miss is reported as ErrUnroutable.
func TestTopicExchangeConformance(t *testing.T) {
	b := newTestBroker(t)
	for i, c := range topicCases {
		if got := match.MatchPattern(c.pattern, c.key); got != c.want {
			t.Fatalf("case %q %q: reference says %v; the table is wrong", c.pattern, c.key, got)
		}
		x := mustExchange(t, b, fmt.Sprintf("x%d", i), TopicExchange)
		q := mustQueue(t, b, fmt.Sprintf("q%d", i))
		mustBind(t, x, q.Name(), c.pattern)
		err := publishKey(x, c.key)
		got := q.Len() == 1
		if got != c.want {
			t.Errorf("pattern %q, key %q: delivered %v, want %v", c.pattern, c.key, got, c.want)
		}
		if !c.want && !errors.Is(err, ErrUnroutable) {
			t.Errorf("pattern %q, key %q: Publish = %v, want ErrUnroutable", c.pattern, c.key, err)
		}
		if c.want && err != nil {
			t.Errorf("pattern %q, key %q: Publish = %v", c.pattern, c.key, err)
		}
	}
}

// TestTopicExchangeAllPatternsAtOnce binds every pattern of topicCases to
// one exchange, each to its own queue, and checks for every key that
// exactly the queues whose pattern matches get it, once.
func TestTopicExchangeAllPatternsAtOnce(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	var patterns, keys []string
	for _, c := range topicCases {
		if !slices.Contains(patterns, c.pattern) {
			patterns = append(patterns, c.pattern)
		}
		if !slices.Contains(keys, c.key) {
			keys = append(keys, c.key)
		}
	}
	qs := make([]*Queue, len(patterns))
	for i, p := range patterns {
		qs[i] = mustQueue(t, b, fmt.Sprintf("q%d", i))
		mustBind(t, x, qs[i].Name(), p)
		mustBind(t, x, qs[i].Name(), p) // idempotent
	}
	for _, key := range keys {
		if err := publishKey(x, key); err != nil {
			t.Fatalf("Publish(%q): %v", key, err) // "#" matches every key
		}
		for i, p := range patterns {
			want := 0
			if match.MatchPattern(p, key) {
				want = 1
			}
			if got := len(receiveAll(t, qs[i])); got != want {
				t.Errorf("key %q, pattern %q: got %d messages, want %d", key, p, got, want)
			}
		}
	}
}

// TestTopicCacheFollowsBindings checks that a key routed (and cached)
// before a Bind or Unbind is routed by the new bindings after it.
func TestTopicCacheFollowsBindings(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	q1, q2 := mustQueue(t, b, "q1"), mustQueue(t, b, "q2")
	mustBind(t, x, "q1", "a.*")
	for range 3 {
		publishKey(x, "a.b")
	}
	mustBind(t, x, "q2", "#.b")
	publishKey(x, "a.b")
	if n1, n2 := len(receiveAll(t, q1)), len(receiveAll(t, q2)); n1 != 4 || n2 != 1 {
		t.Errorf("after Bind: q1 got %d, q2 %d; want 4 and 1", n1, n2)
	}
	if err := x.Unbind("q1", "a.*"); err != nil {
		t.Fatal(err)
	}
	publishKey(x, "a.b")
	if n1, n2 := len(receiveAll(t, q1)), len(receiveAll(t, q2)); n1 != 0 || n2 != 1 {
		t.Errorf("after Unbind: q1 got %d, q2 %d; want 0 and 1", n1, n2)
	}
}

func TestExchangeDedupTwoBindings(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	q := mustQueue(t, b, "q")
	for _, p := range []string{"a.*", "*.b", "#", "a.#", "a.b"} {
		mustBind(t, x, "q", p)
	}
	if err := publishKey(x, "a.b"); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Published != 1 {
		t.Errorf("five matching bindings to one queue published %d times, want 1", s.Published)
	}
}

func TestExchangeDedupAcrossExchanges(t *testing.T) {
	b := newTestBroker(t)
	x1 := mustExchange(t, b, "x1", TopicExchange)
	x2 := mustExchange(t, b, "x2", FanoutExchange)
	x3 := mustExchange(t, b, "x3", DirectExchange)
	q, only2 := mustQueue(t, b, "q"), mustQueue(t, b, "only2")
	mustBind(t, x1, "x2", "a.#")
	mustBind(t, x1, "q", "a.b")
	mustBind(t, x1, "x3", "*.b")
	mustBind(t, x2, "q", "")
	mustBind(t, x2, "only2", "")
	mustBind(t, x2, "x3", "")
	mustBind(t, x3, "q", "a.b")
	if err := publishKey(x1, "a.b"); err != nil {
		t.Fatal(err)
	}
	if n := q.Stats().Published; n != 1 {
		t.Errorf("q, reached by four paths, got %d messages, want 1", n)
	}
	if n := only2.Stats().Published; n != 1 {
		t.Errorf("only2 got %d messages, want 1", n)
	}
	// Through x2 alone.
	if err := publishKey(x1, "a.c"); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := q.Stats().Published, only2.Stats().Published; n1 != 2 || n2 != 2 {
		t.Errorf("after a.c: q %d, only2 %d; want 2 and 2", n1, n2)
	}
}

func TestExchangeCycle(t *testing.T) {
	b := newTestBroker(t)
	x1 := mustExchange(t, b, "x1", FanoutExchange)
	x2 := mustExchange(t, b, "x2", TopicExchange)
	mustBind(t, x1, "x2", "")
	mustBind(t, x2, "x1", "#")
	if err := publishKey(x1, "a"); !errors.Is(err, ErrUnroutable) {
		t.Errorf("a cycle with no queue: Publish = %v, want ErrUnroutable", err)
	}
	q := mustQueue(t, b, "q")
	mustBind(t, x2, "q", "a")
	for _, x := range []*Exchange{x1, x2} {
		if err := publishKey(x, "a"); err != nil {
			t.Fatalf("Publish to %s: %v", x.Name(), err)
		}
		if n := len(receiveAll(t, q)); n != 1 {
			t.Errorf("through the cycle from %s: q got %d messages, want 1", x.Name(), n)
		}
	}
}

// TestExchangeDeliveryOrder checks the documented order: destinations in
// the order of their earliest binding, whatever the kind and the shape of
// the patterns, a bound exchange's destinations at its place.
func TestExchangeDeliveryOrder(t *testing.T) {
	b := newTestBroker(t)
	log := &orderLog{}
	addRecorders(b, log, "r1", "r2", "r3", "r4", "r5")

	topic := mustExchange(t, b, "topic", TopicExchange)
	mustBind(t, topic, "r3", "#")       // walked last in the trie
	mustBind(t, topic, "r1", "a.b")     // literal: walked first
	mustBind(t, topic, "r2", "*.b")     // star
	mustBind(t, topic, "r4", "x.y")     // does not match
	mustBind(t, topic, "r4", "a.#")     // r4's earliest binding is still x.y
	mustBind(t, topic, "r5", "a.b.c.d") // does not match
	publishKey(topic, "a.b")
	if got := log.take(); !slices.Equal(got, []string{"r3", "r1", "r2", "r4"}) {
		t.Errorf("topic order %v, want [r3 r1 r2 r4]", got)
	}

	direct := mustExchange(t, b, "direct", DirectExchange)
	mustBind(t, direct, "r2", "other")
	mustBind(t, direct, "r1", "k")
	mustBind(t, direct, "r2", "k")
	publishKey(direct, "k")
	if got := log.take(); !slices.Equal(got, []string{"r2", "r1"}) {
		t.Errorf("direct order %v, want [r2 r1]", got)
	}

	headers := mustExchange(t, b, "headers", HeadersExchange)
	mustBind(t, headers, "r4", "1", MatchAll(Headers{"n": "no"}))
	mustBind(t, headers, "r2", "1")
	mustBind(t, headers, "r4", "2")
	mustBind(t, headers, "r1", "1")
	publishKey(headers, "")
	if got := log.take(); !slices.Equal(got, []string{"r4", "r2", "r1"}) {
		t.Errorf("headers order %v, want [r4 r2 r1]", got)
	}

	// Depth first: fan's own r1, then everything through topic, then r5;
	// r1 again (through topic) is skipped.
	fan := mustExchange(t, b, "fan", FanoutExchange)
	mustBind(t, fan, "r1", "")
	mustBind(t, fan, "topic", "")
	mustBind(t, fan, "r5", "")
	publishKey(fan, "a.b")
	if got := log.take(); !slices.Equal(got, []string{"r1", "r3", "r2", "r4", "r5"}) {
		t.Errorf("fan order %v, want [r1 r3 r2 r4 r5]", got)
	}
}

// TestExchangeChurn binds and unbinds while others publish: no panic, no
// race, and a queue bound the whole time gets every message.
func TestExchangeChurn(t *testing.T) {
	b := newTestBroker(t)
	const publishers, perPublisher, churners = 4, 500, 3
	kinds := []ExchangeKind{DirectExchange, FanoutExchange, TopicExchange, HeadersExchange}
	for _, kind := range kinds {
		x := mustExchange(t, b, "x-"+kind.String(), kind)
		stable := mustQueue(t, b, "stable-"+kind.String(), WithCapacity(publishers*perPublisher))
		mustBind(t, x, stable.Name(), "k.1")
		var churn []string
		for i := range 8 {
			q := mustQueue(t, b, fmt.Sprintf("churn-%v-%d", kind, i), WithCapacity(1), WithOverflow(OverflowDropOldest))
			churn = append(churn, q.Name())
		}
		inner := mustExchange(t, b, "inner-"+kind.String(), FanoutExchange)
		mustBind(t, inner, churn[0], "")
		churn = append(churn, inner.Name(), stable.Name())
		keys := []string{"k.1", "k.*", "#", "k.#", "other"}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range churners {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(c), 7))
				for {
					select {
					case <-stop:
						return
					default:
					}
					dest, key := churn[r.IntN(len(churn))], keys[r.IntN(len(keys))]
					if dest == stable.Name() && key == "k.1" {
						continue // the stable binding stays
					}
					var err error
					if r.IntN(2) == 0 {
						err = x.Bind(dest, key)
					} else if err = x.Unbind(dest, key); errors.Is(err, ErrNotFound) {
						err = nil
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		var pubs sync.WaitGroup
		for range publishers {
			pubs.Go(func() {
				for range perPublisher {
					m := &Message{Key: "k.1", Headers: Headers{"h": "1"}}
					if err := x.Publish(context.Background(), m); err != nil {
						t.Errorf("%v: Publish: %v", kind, err)
						return
					}
				}
			})
		}
		pubs.Wait()
		close(stop)
		wg.Wait()
		if n := stable.Stats().Published; n != publishers*perPublisher {
			t.Errorf("%v: the stable queue got %d messages, want %d", kind, n, publishers*perPublisher)
		}
	}
}

// TestExchangeManyDestinations goes past the stack buffers and the
// slice-scanned sets.
func TestExchangeManyDestinations(t *testing.T) {
	b := newTestBroker(t)
	const n = 300
	x := mustExchange(t, b, "x", FanoutExchange)
	h := mustExchange(t, b, "h", HeadersExchange)
	var qs []*Queue
	for i := range n {
		q := mustQueue(t, b, fmt.Sprintf("q%d", i))
		qs = append(qs, q)
		mustBind(t, x, q.Name(), "")
		mustBind(t, h, q.Name(), "", MatchAny(Headers{"i": fmt.Sprint(i), "all": "1"}))
	}
	// A chain of exchanges, each bound to all the queues again and to the next.
	prev := x
	for i := range 20 {
		next := mustExchange(t, b, fmt.Sprintf("chain%d", i), FanoutExchange)
		mustBind(t, prev, next.Name(), "")
		mustBind(t, next, qs[i].Name(), "")
		prev = next
	}
	mustBind(t, prev, "h", "")
	if err := publishKey(x, ""); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if got := len(receiveAll(t, q)); got != 1 {
			t.Fatalf("%s got %d messages, want 1", q.Name(), got)
		}
	}
	if err := h.Publish(context.Background(), &Message{Headers: Headers{"i": "7"}}); err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		if want, got := boolCount(i == 7), q.Len(); got != want {
			t.Errorf("%s holds %d messages, want %d", q.Name(), got, want)
		}
	}
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestExchangePublishAllocs checks that publishing a cached key through a
// topic exchange into a queue allocates nothing beyond the message.
func TestExchangePublishAllocs(t *testing.T) {
	b := newTestBroker(t)
	x, q := benchTopicExchange(t, b)
	ctx := context.Background()
	// Grow the queue's ring to its working size.
	for range 128 {
		if err := x.Publish(ctx, &Message{Key: benchTopicKey}); err != nil {
			t.Fatal(err)
		}
	}
	receiveAll(t, q)
	msgs := make([]*Message, 101)
	for i := range msgs {
		msgs[i] = &Message{Key: benchTopicKey}
		msgs[i].stamp(b.wall) // IDs are cut from blocks: keep that out of the count
	}
	i := 0
	n := testing.AllocsPerRun(100, func() {
		if err := x.Publish(ctx, msgs[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if n != 0 {
		t.Errorf("Publish of a cached key allocates %v times, want 0", n)
	}
	if q.Len() != len(msgs) {
		t.Errorf("q holds %d messages, want %d", q.Len(), len(msgs))
	}
}

func TestExchangeGraphRoutingAllocs(t *testing.T) {
	b := newTestBroker(t)
	x1 := mustExchange(t, b, "x1", FanoutExchange)
	x2 := mustExchange(t, b, "x2", TopicExchange)
	mustQueue(t, b, "q", WithCapacity(1), WithOverflow(OverflowDropOldest))
	mustBind(t, x1, "x2", "")
	mustBind(t, x1, "q", "")
	mustBind(t, x2, "q", "a.#")
	m := &Message{Key: "a.b"}
	m.stamp(b.wall)
	x1.Publish(context.Background(), m)
	n := testing.AllocsPerRun(100, func() { x1.Publish(context.Background(), m) })
	if n != 0 {
		t.Errorf("Publish through two exchanges allocates %v times, want 0", n)
	}
}
