package heraldtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldmq/herald"
)

// Recorder records messages, in the order it sees them, and lets a test
// wait for them without sleeping. [Tap] returns one that records what
// passes a topic or an exchange; [NewRecorder] one that records what the
// handlers wrapped by [Recorder.Handler] are given. It is safe for
// concurrent use.
//
// A Recorder keeps the *herald.Message values themselves, shared with
// every other consumer: read them, never change them.
type Recorder struct {
	source string // what it records, for failure messages

	mu      sync.Mutex
	msgs    []*herald.Message
	changed chan struct{} // closed and replaced at each record

	// Set by Tap: the consumer that feeds the recorder.
	cancel   context.CancelFunc
	done     chan struct{} // closed when the consumer has returned
	err      error         // what the consumer returned; read after done
	detach   func()        // unbinds or closes what the tap added
	backlog  func() string // what the tap's queue or subscription holds
	topic    string        // for a topic tap, the topic it reads
	caughtUp func() bool   // for a topic tap: its subscription holds nothing
	stopOnce sync.Once
}

// NewRecorder returns an empty recorder, named name in failure messages,
// for use with [Recorder.Handler].
func NewRecorder(name string) *Recorder {
	return &Recorder{source: name, changed: make(chan struct{})}
}

// TapOption configures [Tap].
type TapOption interface{ applyTap(*tapConfig) }

type tapConfig struct {
	keys []string
}

type tapOptionFunc func(*tapConfig)

func (f tapOptionFunc) applyTap(c *tapConfig) { f(c) }

// Keys makes a tap on a direct exchange record the messages with these
// keys, or a tap on a topic exchange those that match these patterns
// (default "#": every message). A tap on a direct exchange needs it; on
// any other kind of name, Tap fails the test. Given twice, the keys
// accumulate.
func Keys(keys ...string) TapOption {
	return tapOptionFunc(func(c *tapConfig) { c.keys = append(c.keys, keys...) })
}

// tapSeq numbers the private queues of exchange taps.
var tapSeq atomic.Uint64

// Tap returns a recorder of every message that passes the topic or
// exchange called name on b from now on, without taking any from the
// consumers of the broker:
//
//   - a topic is read by a plain subscription of the recorder's own, which
//     sees every message in publish order and is read as fast as
//     messages come, so it never holds the topic's publishers back for
//     long;
//   - an exchange is bound to a private queue of the recorder's own
//     ("heraldtest.tap.N") with an observer binding (herald.AsObserver)
//     that matches every message: key "" on a fanout exchange, "#" on a
//     topic exchange (or the patterns given with [Keys]), MatchAll(nil) on
//     a headers exchange, and on a direct exchange, which has no wildcard,
//     the keys given with Keys.
//
// An observer binding records exactly what the exchange's real bindings
// route (or its alternate exchange takes), and changes nothing: a message
// that nothing else matches still returns ErrUnroutable or goes to the
// alternate exchange. The tap gets each message before the exchange's
// real destinations do, so its recording is in cause-and-effect order
// whenever the tap was made.
//
// A recorder records messages in the order they reach it. A topic tap
// sees them in publish order.
//
// A queue cannot be tapped: it hands each message to one consumer only, so
// a tap would take messages from the real consumers and change the flow
// under test. Tap fails the test for a queue; record its consumer with
// [Recorder.Handler], or tap the exchange or topic that feeds it.
//
// The recorder stops when the test ends (for a broker made by
// [NewBroker], when that broker's cleanup closes it, so that the
// [FailOnUnsettled] check sees the tap still reading), or when the broker
// closes or shuts down. Tap fails the test with t.Fatalf if name is not
// declared, or is a queue, or if the tap cannot be set up.
func Tap(t testing.TB, b *herald.Broker, name string, opts ...TapOption) *Recorder {
	t.Helper()
	var cfg tapConfig
	for _, o := range opts {
		if o == nil {
			t.Fatalf("heraldtest.Tap(%q): nil option", name)
		}
		o.applyTap(&cfg)
	}
	d, err := lookup(b, name)
	if err != nil {
		t.Fatalf("heraldtest.Tap(%q): %v", name, err)
	}
	var r *Recorder
	switch d := d.(type) {
	case *herald.Queue:
		t.Fatalf("heraldtest.Tap(%q): %q is a queue, which hands each message to one consumer only, so a tap would take messages from yours; "+
			"record its consumer instead, q.Consume(ctx, rec.Handler(h)), or tap the exchange or topic that feeds it", name, name)
	case *herald.Topic:
		if len(cfg.keys) > 0 {
			t.Fatalf("heraldtest.Tap(%q): Keys applies to direct and topic exchanges; %q is a topic", name, name)
		}
		r, err = tapTopic(d)
	case *herald.Exchange:
		r, err = tapExchange(b, d, cfg.keys)
	}
	if err != nil {
		t.Fatalf("heraldtest.Tap(%q): %v", name, err)
	}
	st := stateOf(b)
	if st == nil || !st.owned {
		// A broker heraldtest did not make lives beyond the test, so the
		// tap stops with the test.
		actual, _ := brokers.LoadOrStore(b, &brokerState{})
		st = actual.(*brokerState)
		t.Cleanup(func() {
			r.stop()
			st.mu.Lock()
			st.taps = slices.DeleteFunc(st.taps, func(x *Recorder) bool { return x == r })
			if len(st.taps) == 0 {
				brokers.CompareAndDelete(b, st)
			}
			st.mu.Unlock()
		})
	}
	st.addTap(r)
	return r
}

func tapTopic(topic *herald.Topic) (*Recorder, error) {
	sub, err := topic.Subscribe()
	if err != nil {
		return nil, err
	}
	r := NewRecorder(fmt.Sprintf("topic %q", topic.Name()))
	r.detach = func() { sub.Close() }
	r.backlog = func() string {
		s := sub.Stats()
		return fmt.Sprintf("tap subscription: %d unread, %d unacked", s.Lag, s.Unacked)
	}
	r.topic = topic.Name()
	r.caughtUp = func() bool {
		s := sub.Stats()
		return s.Lag == 0 && s.Unacked == 0 && s.Delayed == 0
	}
	r.start(sub.Receive)
	return r, nil
}

func tapExchange(b *herald.Broker, x *herald.Exchange, keys []string) (*Recorder, error) {
	switch x.Kind() {
	case herald.DirectExchange:
		if len(keys) == 0 {
			return nil, fmt.Errorf("%q is a direct exchange, which has no wildcard: pass the keys to record with heraldtest.Keys", x.Name())
		}
	case herald.TopicExchange:
		if len(keys) == 0 {
			keys = []string{"#"}
		}
	default:
		if len(keys) > 0 {
			return nil, fmt.Errorf("Keys applies to direct and topic exchanges; %q is a %v exchange", x.Name(), x.Kind())
		}
		keys = []string{""}
	}
	qname := fmt.Sprintf("%stap.%d", ownPrefix, tapSeq.Add(1))
	q, err := b.Queue(qname)
	if err != nil {
		return nil, err
	}
	bindOpts := []herald.BindOption{herald.AsObserver()}
	if x.Kind() == herald.HeadersExchange {
		bindOpts = append(bindOpts, herald.MatchAll(nil))
	}
	unbind := func() {
		for _, k := range keys {
			x.Unbind(qname, k) // fails only for keys not bound yet, or once the broker is closed
		}
	}
	for _, k := range keys {
		if err := x.Bind(qname, k, bindOpts...); err != nil {
			unbind()
			return nil, err
		}
	}
	r := NewRecorder(fmt.Sprintf("%v exchange %q", x.Kind(), x.Name()))
	r.detach = unbind
	r.backlog = func() string {
		s := q.Stats()
		return fmt.Sprintf("tap queue %q: %d ready, %d unacked", qname, s.Ready, s.Unacked)
	}
	r.start(q.Receive)
	return r, nil
}

// start receives every message, records and acks it, until stop or the
// broker closes. It receives rather than consumes so that the broker's
// middleware (herald.WithMiddleware given to herald.New), which is for the
// test's own consumers, neither sees nor counts what the tap records.
func (r *Recorder) start(receive func(context.Context) (*herald.Delivery, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			d, err := receive(ctx)
			if errors.Is(err, herald.ErrLagged) {
				continue // the subscription carries on from the oldest retained message
			}
			if err != nil {
				r.err = err
				return
			}
			r.record(d.Message)
			d.Ack()
		}
	}()
}

// stop stops the tap's consumer, waits for it and removes what the tap
// added to the broker. It does nothing for a recorder made by NewRecorder.
func (r *Recorder) stop() {
	if r.cancel == nil {
		return
	}
	r.stopOnce.Do(func() {
		r.cancel()
		<-r.done
		r.detach()
	})
}

// status describes the recorder for a failure message.
func (r *Recorder) status() string {
	s := fmt.Sprintf("%s: %d recorded", r.source, r.Len())
	if r.backlog != nil {
		s += "; " + r.backlog()
	}
	if r.done != nil {
		select {
		case <-r.done:
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				s += fmt.Sprintf("; tap stopped: %v", r.err)
			}
		default:
		}
	}
	return s
}

// record appends m and wakes the waiters.
func (r *Recorder) record(m *herald.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Handler returns h wrapped so that r records the message of each
// delivery h is given for the first time (Attempt 1), after h returns or
// panics, whatever it returned: a message is recorded once for each queue
// or subscription it reaches, not again when it is redelivered, and
// [Recorder.WaitFor] returns only after h has run. Recording the handler
// is how a queue is observed (see [Tap]):
//
//	go q.Consume(ctx, rec.Handler(h))
//
// Handler is a herald.Middleware, so herald.WithMiddleware(rec.Handler)
// records every handler of a consumer, or, passed to herald.New through
// [WithBrokerOptions], of a whole broker.
func (r *Recorder) Handler(h herald.Handler) herald.Handler {
	return func(ctx context.Context, d *herald.Delivery) error {
		if d.Attempt == 1 {
			defer r.record(d.Message)
		}
		return h(ctx, d)
	}
}

// Messages returns a copy of the messages recorded so far, in the order
// they were recorded.
func (r *Recorder) Messages() []*herald.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Len returns how many messages have been recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Bodies returns the bodies of the messages recorded so far, in order.
func (r *Recorder) Bodies() []any {
	msgs := r.Messages()
	out := make([]any, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

// Keys returns the routing keys of the messages recorded so far, in order.
func (r *Recorder) Keys() []string {
	msgs := r.Messages()
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Key
	}
	return out
}

// WaitFor blocks until at least n messages have been recorded, or ctx
// ends. It returns nil, or an error wrapping ctx.Err() that says how many
// were recorded. It parks on a channel, so inside a testing/synctest
// bubble it is durably blocked, and fake time advances to ctx's deadline
// when nothing else can run.
func (r *Recorder) WaitFor(ctx context.Context, n int) error {
	err := r.WaitUntil(ctx, func(msgs []*herald.Message) bool { return len(msgs) >= n })
	if err != nil {
		return fmt.Errorf("heraldtest: %s: waited for %d messages, recorded %d: %w", r.source, n, r.Len(), ctx.Err())
	}
	return nil
}

// WaitUntil blocks until cond, called with the messages recorded so far
// each time one more is recorded, returns true, or until ctx ends. It
// returns nil, or an error wrapping ctx.Err(). cond runs on the caller's
// goroutine and must not change or keep the slice it is given.
func (r *Recorder) WaitUntil(ctx context.Context, cond func([]*herald.Message) bool) error {
	for {
		r.mu.Lock()
		msgs, changed := r.msgs[:len(r.msgs):len(r.msgs)], r.changed
		r.mu.Unlock()
		// Appends never write below len(msgs), so cond may read msgs
		// without the lock.
		if cond(msgs) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("heraldtest: %s: condition not met with %d messages recorded: %w", r.source, len(msgs), ctx.Err())
		}
	}
}

// String returns what the recorder records, as in `topic "events"`.
func (r *Recorder) String() string { return r.source }

// lookup returns the *herald.Queue, *herald.Topic or *herald.Exchange that
// name is declared as on b.
func lookup(b *herald.Broker, name string) (any, error) {
	if t, err := b.LookupTopic(name); err == nil {
		return t, nil
	}
	if x, err := b.LookupExchange(name); err == nil {
		return x, nil
	}
	if q, err := b.LookupQueue(name); err == nil {
		return q, nil
	}
	return nil, fmt.Errorf("%q is not declared: declare it before tapping it", name)
}
