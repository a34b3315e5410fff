package heraldtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/internal/glabel"
	"github.com/heraldmq/herald/internal/leak"
)

// DefaultSettleTimeout is how long [Settle], and the [FailOnUnsettled]
// check, wait for a broker to go idle unless [WithSettleTimeout] says
// otherwise, outside a testing/synctest bubble.
const DefaultSettleTimeout = 5 * time.Second

// DefaultBubbleSettleTimeout is the default wait of [Settle] and the
// [FailOnUnsettled] check inside a testing/synctest bubble. Time there is
// fake: waiting an hour costs no real time, so flows with long back-offs
// settle, and a stuck flow still fails at once, as soon as every goroutine
// of the bubble is blocked.
const DefaultBubbleSettleTimeout = time.Hour

// inBubble reports whether the caller runs in a testing/synctest bubble,
// whose fake clock starts at midnight UTC on 2000-01-01 (as package
// testing/synctest documents), years before any real clock.
func inBubble() bool { return time.Now().Before(time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)) }

// leakTimeout bounds how long NewBroker's cleanup waits for herald's
// goroutines to exit after Close; a stopped broker's go in microseconds.
const leakTimeout = 2 * time.Second

// Option configures [NewBroker].
type Option interface{ apply(*config) }

type config struct {
	failOnUnsettled bool
	leakCheck       bool
	settleTimeout   time.Duration // 0: the default for where the wait runs
	settleSet       bool
	brokerOpts      []herald.Option
}

// settleWait returns how long to wait for the broker to settle, now.
func (c *config) settleWait() time.Duration {
	switch {
	case c.settleTimeout > 0:
		return c.settleTimeout
	case inBubble():
		return DefaultBubbleSettleTimeout
	}
	return DefaultSettleTimeout
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// FailOnUnsettled makes the test fail at cleanup if the broker does not go
// idle within the settle timeout: a message still ready, unacked or backing
// off in a queue or group (a dead-letter queue that nothing reads counts),
// or a plain subscription that has not read all there is. The failure
// lists what holds the broker up, as [Settle]'s does. The check runs before
// the broker closes, while the test's consumers that do not use
// t.Context() are still running; it is skipped if the test has already
// failed, or closed or shut down the broker itself. Default: off.
func FailOnUnsettled() Option {
	return optionFunc(func(c *config) { c.failOnUnsettled = true })
}

// NoLeakCheck turns off the check, at cleanup, that no goroutine of the
// broker is left running. The check tells the broker's goroutines from
// those of brokers that other tests run in parallel (t.Parallel), so it
// is needed only where a failure says so: while no other broker made by
// NewBroker is open, the check also counts goroutines that run herald's
// code for no broker in particular, which may be those of a parallel test
// that made its broker with herald.New. Default: on.
func NoLeakCheck() Option {
	return optionFunc(func(c *config) { c.leakCheck = false })
}

// WithSettleTimeout sets how long [Settle] and the [FailOnUnsettled] check
// wait for this broker to go idle. Default [DefaultSettleTimeout], or
// [DefaultBubbleSettleTimeout] inside a testing/synctest bubble; d must be
// positive. Given twice, the last wins.
func WithSettleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.settleTimeout, c.settleSet = d, true })
}

// WithBrokerOptions passes opts to herald.New. Given twice, the options
// accumulate in the order given.
func WithBrokerOptions(opts ...herald.Option) Option {
	return optionFunc(func(c *config) { c.brokerOpts = append(c.brokerOpts, opts...) })
}

// NewBroker returns a new broker that is closed when the test ends, after
// which the test fails if a goroutine of the broker (one running herald's
// code for it) is still running; brokers of tests running in parallel do
// not count. Taps made with [Tap] on it record until then.
//
// Cleanup runs in this order: the [FailOnUnsettled] check, if asked for;
// Close; waiting for the broker's taps to stop; the leak check (see
// [NoLeakCheck]). Consumers that the test started with t.Context() have
// stopped by then, since the testing package cancels it before cleanup.
//
// A nil option or a settle timeout that is not positive fails the test at
// once.
func NewBroker(t testing.TB, opts ...Option) *herald.Broker {
	t.Helper()
	cfg := config{leakCheck: true}
	for _, o := range opts {
		if o == nil {
			t.Fatalf("heraldtest.NewBroker: nil option")
		}
		o.apply(&cfg)
	}
	if cfg.settleSet && cfg.settleTimeout <= 0 {
		t.Fatalf("heraldtest.NewBroker: settle timeout %v, want a positive duration", cfg.settleTimeout)
	}
	b := herald.New(cfg.brokerOpts...)
	st := &brokerState{cfg: cfg, owned: true}
	brokers.Store(b, st)
	t.Cleanup(func() {
		defer brokers.Delete(b)
		if cfg.failOnUnsettled && !t.Failed() {
			if err := waitIdle(b, cfg.settleWait()); err != nil && !errors.Is(err, herald.ErrClosed) {
				t.Errorf("heraldtest: messages left unsettled at the end of the test (%v);%s", err, report(b, st))
			}
		}
		b.Close()
		st.waitTaps()
		if cfg.leakCheck {
			checkLeaks(t, b)
		}
	})
	return b
}

// checkLeaks fails t if a goroutine of b's is still running. herald labels
// the goroutines that run for a broker (see runtime/pprof), so the check
// sees b's own and not those of brokers that tests running in parallel use.
// Goroutines running herald's code for no broker in particular (calls in
// progress on goroutines herald did not start) count too while b is the
// only broker heraldtest knows of, since they cannot be told apart.
func checkLeaks(t testing.TB, b *herald.Broker) {
	scope := leak.Scope{Broker: glabel.Of(b), Unlabeled: onlyBroker(b)}
	leaked := leak.FindIn(scope, leakTimeout)
	if len(leaked) == 0 {
		return
	}
	msg := leak.Report(leaked)
	for _, r := range leaked {
		if !strings.Contains(r, "# labels: ") {
			msg += "\n\nSome of these goroutines carry no broker's label, so they may be another test's: " +
				"one that runs herald in parallel with this one without heraldtest.NewBroker. " +
				"If so, turn this check off with heraldtest.NoLeakCheck()."
			break
		}
	}
	t.Error(msg)
}

// onlyBroker reports whether b is the only broker heraldtest knows of
// (made by NewBroker or tapped) that is still open.
func onlyBroker(b *herald.Broker) bool {
	only := true
	brokers.Range(func(k, _ any) bool {
		only = k == b
		return only
	})
	return only
}

// Settle waits until b is idle: no message ready, unacked, backing off or
// being dead-lettered in any queue or group, and every subscription has read
// all there is. Since a handler settles its delivery only after it returns,
// a flow of several hops has then run to its end, and its effects can be
// asserted. Call it after the publishes that start the flow have returned.
//
// If b is not idle within the settle timeout ([WithSettleTimeout], default
// [DefaultSettleTimeout], or [DefaultBubbleSettleTimeout] in a
// testing/synctest bubble), or is closed, Settle fails the test with
// t.Fatalf. After a timeout it lists, one line each, every queue that
// still holds a message, with how many are ready, unacked, delayed (backing
// off) and scheduled; every topic that may, with its plain subscriptions
// and groups, whose backlogs herald does not show; and what each of b's
// taps still holds.
func Settle(t testing.TB, b *herald.Broker) {
	t.Helper()
	st := stateOf(b)
	var cfg config
	if st != nil {
		cfg = st.cfg
	}
	d := cfg.settleWait()
	err := waitIdle(b, d)
	switch {
	case err == nil:
	case errors.Is(err, herald.ErrClosed):
		t.Fatalf("heraldtest.Settle: %v", err)
	default:
		t.Fatalf("heraldtest.Settle: the broker did not go idle within %v;%s", d, report(b, st))
	}
}

func waitIdle(b *herald.Broker, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return b.WaitIdle(ctx)
}

// brokers maps each *herald.Broker that heraldtest knows of, made by
// NewBroker or tapped, to its state.
var brokers sync.Map

// brokerState is what heraldtest knows of one broker.
type brokerState struct {
	cfg   config
	owned bool // made by NewBroker, whose cleanup stops the taps

	mu   sync.Mutex
	taps []*Recorder
}

// stateOf returns b's state, or nil if heraldtest does not know b.
func stateOf(b *herald.Broker) *brokerState {
	if st, ok := brokers.Load(b); ok {
		return st.(*brokerState)
	}
	return nil
}

func (st *brokerState) addTap(r *Recorder) {
	st.mu.Lock()
	st.taps = append(st.taps, r)
	st.mu.Unlock()
}

// waitTaps waits for the taps' consumers to return; they do once the
// broker is closed.
func (st *brokerState) waitTaps() {
	st.mu.Lock()
	taps := st.taps
	st.mu.Unlock()
	for _, r := range taps {
		r.stop()
	}
}

// ownPrefix starts every name heraldtest declares.
const ownPrefix = "heraldtest."

// report describes, for a failure message that it ends, what keeps b from
// going idle: one line for each queue that holds a message, with its
// counts and how many handler goroutines consume it, and for each topic that may (herald shows a topic's counters,
// not how far each of its subscriptions and groups has got); then what
// each tap holds. st may be nil. heraldtest's own queues are left to the
// tap lines.
func report(b *herald.Broker, st *brokerState) string {
	var taps []*Recorder
	if st != nil {
		st.mu.Lock()
		taps = slices.Clone(st.taps)
		st.mu.Unlock()
	}
	// A topic whose only subscriptions are taps that have read all holds
	// nothing.
	caughtUp := map[string]int{}
	for _, r := range taps {
		if r.topic != "" && r.caughtUp() {
			caughtUp[r.topic]++
		}
	}
	var lines []string
	for _, name := range b.Names() {
		if strings.HasPrefix(name, ownPrefix) {
			continue
		}
		if q, err := b.LookupQueue(name); err == nil {
			s := q.Stats()
			if s.Ready+s.Unacked+s.Delayed+s.Scheduled > 0 {
				lines = append(lines, fmt.Sprintf("queue %q: %d ready, %d unacked, %d delayed, %d scheduled; %s",
					name, s.Ready, s.Unacked, s.Delayed, s.Scheduled, consumers(s.Consumers)))
			}
			continue
		}
		if t, err := b.LookupTopic(name); err == nil {
			s := t.Stats()
			plain := max(s.Subscriptions-caughtUp[name], 0)
			if s.Published == 0 || plain == 0 && s.Groups == 0 {
				continue
			}
			lines = append(lines, fmt.Sprintf("topic %q: %d published; %s, %s, whose backlogs are not visible",
				name, s.Published, count(plain, "plain subscription"), count(s.Groups, "group")))
		}
	}

	var sb strings.Builder
	if len(lines) == 0 {
		sb.WriteString(" no queue or topic shows a message now")
	} else {
		sb.WriteString(" what holds it up:")
		for _, l := range lines {
			fmt.Fprintf(&sb, "\n\t%s", l)
		}
	}
	if len(taps) > 0 {
		sb.WriteString("\ntaps:")
		for _, r := range taps {
			fmt.Fprintf(&sb, "\n\t%s", r.status())
		}
	}
	return sb.String()
}

// consumers says how many handler goroutines consume a queue; "no
// consumer" is the usual reason a queue (a dead-letter queue nobody reads)
// does not settle.
func consumers(n int) string {
	if n == 0 {
		return "no consumer"
	}
	return count(n, "consumer")
}

// count returns n and noun, plural unless n is 1: "2 groups".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
