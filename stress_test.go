package herald

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The stress tests prove the no-loss invariant of DESIGN.md: whatever mix of
// producers, competing consumers, random acks, nacks, rejects, panics, ack
// timeouts and consumer cancellations, every published message ends in
// exactly one of acked, dead-lettered, expired or dropped, and Stats agrees
// with what the consumers saw.

// stressSpec is one stress scenario.
type stressSpec struct {
	producers   int // goroutines publishing perProducer messages each
	perProducer int
	consumers   int // Consume calls, with concurrency 2..4
	receivers   int // Receive loops

	maxDeliveries int
	work          []QueueOption // besides WithMaxDeliveries and WithDeadLetter("dead")
	reasons       []string      // the x-death reasons dead letters may carry

	// handler returns the handler of one Consume call; receive settles one
	// delivery of a Receive loop. Both record in l only the acks that
	// herald reported as won.
	handler func(t *testing.T, l *stressLedger, rng *stressRand) Handler
	receive func(t *testing.T, l *stressLedger, rng *rand.Rand, d *Delivery)

	timeout   time.Duration // the whole run, after which the test fails
	waitLimit time.Duration // bound of the random timeouts of some publishes and receives
	maxTTL    time.Duration // bound of the random TTL of one message in ten; 0: none
	purge     bool          // purge the work queue at every progress tick
}

func (s stressSpec) total() int { return s.producers * s.perProducer }

// stressLedger is the test's own account of how messages ended.
type stressLedger struct {
	total int
	every int // events between two progress ticks

	mu     sync.Mutex
	acked  map[string]int      // ID -> acks that returned nil
	dead   map[string][]string // ID -> x-death reason of each dead letter
	purged int                 // messages Purge reported ending
	events int

	done     chan struct{} // closed when events reach total
	progress chan struct{} // ticked every `every` events, never blocking
}

func newStressLedger(total int) *stressLedger {
	return &stressLedger{
		total:    total,
		every:    max(total/30, 1),
		acked:    make(map[string]int, total),
		dead:     make(map[string][]string),
		done:     make(chan struct{}),
		progress: make(chan struct{}, 1),
	}
}

func (l *stressLedger) recordAck(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[id]++
	l.bumpLocked()
}

func (l *stressLedger) recordDead(id, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead[id] = append(l.dead[id], reason)
	l.bumpLocked()
}

func (l *stressLedger) recordPurged(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purged += n
	for range n {
		l.bumpLocked()
	}
}

func (l *stressLedger) bumpLocked() {
	l.events++
	if l.events == l.total {
		close(l.done)
	}
	if l.events%l.every == 0 {
		select {
		case l.progress <- struct{}{}:
		default:
		}
	}
}

func (l *stressLedger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d of %d outcomes (%d IDs acked, %d dead)", l.events, l.total, len(l.acked), len(l.dead))
}

// stressRand is one consumer's random source, shared by its handler
// goroutines.
type stressRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newStressRand(seed uint64) *stressRand {
	return &stressRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (r *stressRand) IntN(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.IntN(n)
}

// stressID is the ID producer p gives its i-th message.
func stressID(p, i int) string { return "p" + strconv.Itoa(p) + "-" + strconv.Itoa(i) }

// runStress runs spec against a broker with queues "work" and "dead" and
// checks the no-loss invariant at the end.
func runStress(t *testing.T, spec stressSpec) {
	seed := rand.Uint64() // not the clock: it is fixed in a synctest bubble
	t.Logf("seed %d, %d messages", seed, spec.total())
	master := rand.New(rand.NewPCG(seed, 1))

	b := newTestBroker(t)
	opts := append([]QueueOption{WithMaxDeliveries(spec.maxDeliveries), WithDeadLetter("dead")}, spec.work...)
	q := mustQueue(t, b, "work", opts...)
	dq := mustQueue(t, b, "dead", WithCapacity(spec.total()+1))
	l := newStressLedger(spec.total())

	ctx, cancel := context.WithTimeout(context.Background(), spec.timeout)
	defer cancel()

	// Some publishes and receives give up after a random short wait and
	// are retried, so that parked callers also leave by their context: a
	// publish that fails must not have enqueued its message, and a waiter
	// that leaves must pass on a wake-up meant for it.
	withRandomTimeout := func(rng *rand.Rand, parent context.Context, limit time.Duration) (context.Context, context.CancelFunc, bool) {
		if limit <= 0 || rng.IntN(4) != 0 {
			return parent, func() {}, false
		}
		c, cancel := context.WithTimeout(parent, time.Duration(rng.Int64N(int64(limit))))
		return c, cancel, true
	}

	var producers sync.WaitGroup
	var publishRetries atomic.Int64
	for p := range spec.producers {
		rng := rand.New(rand.NewPCG(master.Uint64(), 3))
		producers.Go(func() {
			for i := range spec.perProducer {
				m := &Message{ID: stressID(p, i), Body: i}
				if spec.maxTTL > 0 && rng.IntN(10) == 0 {
					m.TTL = 1 + time.Duration(rng.Int64N(int64(spec.maxTTL)))
				}
				for {
					pctx, pcancel, limited := withRandomTimeout(rng, ctx, spec.waitLimit)
					var err error
					if i%2 == 0 {
						err = b.Publish(pctx, "work", m)
					} else {
						err = q.Publish(pctx, m)
					}
					pcancel()
					if err != nil && limited && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
						publishRetries.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("producer %d: publish %s: %v", p, m.ID, err)
						return
					}
					break
				}
			}
		})
	}

	dctx, stopDead := context.WithCancel(ctx)
	deadDone := make(chan struct{})
	go func() {
		defer close(deadDone)
		stressDrainDead(dctx, t, q, dq, l, spec.maxDeliveries, spec.reasons)
	}()

	// Consumers 0..consumers-1 are Consume calls, the rest Receive loops.
	// At every progress tick one of them, at random, is cancelled and
	// replaced, so that in-flight messages go back and are redelivered.
	type consumer struct {
		cancel context.CancelFunc
		done   chan error
		kind   string
	}
	start := func(i int, seed uint64) *consumer {
		cctx, ccancel := context.WithCancel(ctx)
		c := &consumer{cancel: ccancel, done: make(chan error, 1)}
		if i < spec.consumers {
			c.kind = "Consume"
			rng := newStressRand(seed)
			h := spec.handler(t, l, rng)
			n := 2 + rng.IntN(3)
			// Half the consumers prefetch, so cancelling them puts taken
			// but unhandled messages back.
			prefetch := n * (1 + rng.IntN(2)*rng.IntN(8))
			go func() { c.done <- q.Consume(cctx, h, WithConcurrency(n), WithPrefetch(prefetch)) }()
			return c
		}
		c.kind = "Receive loop"
		rng := rand.New(rand.NewPCG(seed, 2))
		go func() {
			for {
				rctx, rcancel, limited := withRandomTimeout(rng, cctx, spec.waitLimit)
				d, err := q.Receive(rctx)
				rcancel()
				if err != nil {
					if limited && errors.Is(err, context.DeadlineExceeded) && cctx.Err() == nil {
						continue
					}
					if cctx.Err() != nil {
						err = nil
					}
					c.done <- err
					return
				}
				spec.receive(t, l, rng, d)
			}
		}()
		return c
	}
	stop := func(c *consumer) {
		c.cancel()
		err := <-c.done
		switch {
		case c.kind == "Consume" && !errors.Is(err, context.Canceled) && ctx.Err() == nil:
			t.Errorf("cancelled Consume returned %v, want context.Canceled", err)
		case c.kind != "Consume" && err != nil:
			t.Errorf("Receive loop: %v", err)
		}
	}
	consumers := make([]*consumer, spec.consumers+spec.receivers)
	for i := range consumers {
		consumers[i] = start(i, master.Uint64())
	}
	replaced := 0
wait:
	for {
		select {
		case <-l.done:
			break wait
		case <-ctx.Done():
			t.Errorf("gave up after %v: %v; work %+v; dead %+v", spec.timeout, l, q.Stats(), dq.Stats())
			break wait
		case <-l.progress:
			if spec.purge {
				l.recordPurged(q.Purge())
			}
			stressBalanced(t, q)
			i := master.IntN(len(consumers))
			stop(consumers[i])
			consumers[i] = start(i, master.Uint64())
			replaced++
		}
	}
	for _, c := range consumers {
		stop(c)
	}
	stopDead()
	<-deadDone
	producers.Wait()
	t.Logf("%d consumers replaced, %d publishes retried after a timeout; %v", replaced, publishRetries.Load(), l)

	// Shutdown is the barrier after which no settle is in progress: it
	// returns once every queue is empty and every delivery settled.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := b.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v; work %+v; dead %+v", err, q.Stats(), dq.Stats())
	}
	l.verify(t, spec, q.Stats(), dq.Stats())
}

// stressBalanced fails the test if a snapshot of q's Stats has a message
// in no state, or in two.
func stressBalanced(t *testing.T, q *Queue) {
	if s := q.Stats(); unaccounted(s) != 0 {
		t.Errorf("%d messages unaccounted for in %+v", unaccounted(s), s)
	}
}

// stressDrainDead receives dead letters until ctx ends, checks their x-death
// headers and records them.
func stressDrainDead(ctx context.Context, t *testing.T, q, dq *Queue, l *stressLedger, maxDeliveries int, reasons []string) {
	for {
		d, err := dq.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("dead: Receive: %v", err)
			}
			return
		}
		stressBalanced(t, q) // while the work queue is busy
		h := d.Headers
		reason := h[HeaderDeathReason]
		attempts, err := strconv.Atoi(h[HeaderDeathAttempts])
		if err != nil {
			t.Errorf("dead letter %s: %s = %q", d.ID, HeaderDeathAttempts, h[HeaderDeathAttempts])
		}
		if h[HeaderDeathQueue] != "work" {
			t.Errorf("dead letter %s: %s = %q, want work", d.ID, HeaderDeathQueue, h[HeaderDeathQueue])
		}
		var lo, hi int
		switch reason {
		case ReasonDeliveryLimit:
			lo, hi = maxDeliveries, maxDeliveries
		case ReasonRejected:
			lo, hi = 1, maxDeliveries
		case ReasonMaxLen, ReasonExpired:
			lo, hi = 0, maxDeliveries-1 // ended while ready
		}
		if !slices.Contains(reasons, reason) {
			t.Errorf("dead letter %s: reason %q, want one of %q", d.ID, reason, reasons)
		} else if attempts < lo || attempts > hi {
			t.Errorf("dead letter %s (%s): %d attempts, want %d..%d", d.ID, reason, attempts, lo, hi)
		}
		l.recordDead(d.ID, reason)
		if err := d.Ack(); err != nil {
			t.Errorf("dead letter %s: Ack: %v", d.ID, err)
		}
	}
}

// verify checks that every ID ended exactly once and that Stats agrees.
func (l *stressLedger) verify(t *testing.T, spec stressSpec, work, dead QueueStats) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	want := make(map[string]bool, spec.total())
	for p := range spec.producers {
		for i := range spec.perProducer {
			want[stressID(p, i)] = true
		}
	}
	// Purge reports how many messages it ended, not which: those are the
	// IDs with no other end.
	var bad []string
	unended := 0
	for id := range want {
		switch n := l.acked[id] + len(l.dead[id]); {
		case n == 0:
			unended++
		case n > 1:
			bad = append(bad, fmt.Sprintf("%s: acked %d times, dead-lettered %v", id, l.acked[id], l.dead[id]))
		}
	}
	if unended != l.purged {
		bad = append(bad, fmt.Sprintf("%d IDs never acked nor dead-lettered, %d purged", unended, l.purged))
	}
	var acks, deads uint64
	byReason := map[string]uint64{}
	for id, n := range l.acked {
		acks += uint64(n)
		if !want[id] {
			bad = append(bad, fmt.Sprintf("%s: acked but never published", id))
		}
	}
	for id, rs := range l.dead {
		deads += uint64(len(rs))
		for _, r := range rs {
			byReason[r]++
		}
		if !want[id] {
			bad = append(bad, fmt.Sprintf("%s: dead-lettered but never published", id))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Errorf("%d IDs not ended exactly once, e.g.:\n%s", len(bad), stressIndent(bad[:min(len(bad), 10)]))
	}
	t.Logf("acked %d, dead-lettered %v; work %+v", acks, byReason, work)

	total := uint64(spec.total())
	check := func(what string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", what, got, want)
		}
	}
	check("work.Published", work.Published, total)
	check("work.Acked", work.Acked, acks)
	check("work.Rejected", work.Rejected, byReason[ReasonRejected]+byReason[ReasonDeliveryLimit])
	check("work.Dropped", work.Dropped, byReason[ReasonMaxLen])
	check("work.Expired", work.Expired, byReason[ReasonExpired])
	check("work.DeadLettered", work.DeadLettered, deads)
	check("work.DeadLetterFailed", work.DeadLetterFailed, 0)
	check("work.Purged", work.Purged, uint64(l.purged))
	check("work.Acked+Rejected+Expired+Dropped+Purged", work.Acked+work.Rejected+work.Expired+work.Dropped+work.Purged, work.Published)
	// Every delivery is settled once: acked, nacked (a timeout counts as a
	// nack) or rejected, and delivery-limit deaths are nacks.
	check("work.Delivered", work.Delivered, work.Acked+work.Nacked+byReason[ReasonRejected])
	check("work.Ready", uint64(work.Ready), 0)
	check("work.Unacked", uint64(work.Unacked), 0)
	check("work.Delayed", uint64(work.Delayed), 0)
	check("dead.Published", dead.Published, deads)
	check("dead.Acked", dead.Acked, deads)
}

func stressIndent(lines []string) string {
	var s string
	for _, l := range lines {
		s += "\t" + l + "\n"
	}
	return s
}

// stressBasicHandler is a Consume handler for queues without an ack timeout,
// where nothing but the handler settles a delivery.
func stressBasicHandler(t *testing.T, l *stressLedger, rng *stressRand) Handler {
	return func(ctx context.Context, d *Delivery) error {
		switch n := rng.IntN(100); {
		case n < 40: // ack, and know it
			if err := d.Ack(); err != nil {
				t.Errorf("%s: Ack: %v", d.ID, err)
				return nil
			}
			l.recordAck(d.ID)
			return nil
		case n < 50: // ack by returning nil: with no ack timeout nothing else can settle it
			l.recordAck(d.ID)
			return nil
		case n < 62:
			return errors.New("transient failure")
		case n < 67: // nack, then return nil: the first settle wins
			if err := d.Nack(); err != nil {
				t.Errorf("%s: Nack: %v", d.ID, err)
			}
			return nil
		case n < 75:
			return Permanent(errors.New("malformed order"))
		case n < 82: // reject, then return an error: the first settle wins
			if err := d.Reject(); err != nil {
				t.Errorf("%s: Reject: %v", d.ID, err)
			}
			return errors.New("after reject")
		case n < 87:
			panic("handler bug")
		default: // slow work, abandoned (nacked) if the consumer is cancelled
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(rng.IntN(200)) * time.Microsecond):
			}
			if err := d.Ack(); err != nil {
				t.Errorf("%s: Ack: %v", d.ID, err)
				return nil
			}
			l.recordAck(d.ID)
			return nil
		}
	}
}

// stressBasicReceive settles a received delivery at random.
func stressBasicReceive(t *testing.T, l *stressLedger, rng *rand.Rand, d *Delivery) {
	switch n := rng.IntN(100); {
	case n < 60:
		if err := d.Ack(); err != nil {
			t.Errorf("%s: Ack: %v", d.ID, err)
			return
		}
		l.recordAck(d.ID)
	case n < 85:
		if err := d.Nack(); err != nil {
			t.Errorf("%s: Nack: %v", d.ID, err)
		}
	default:
		if err := d.Reject(); err != nil {
			t.Errorf("%s: Reject: %v", d.ID, err)
		}
	}
}

func stressSize() (producers, perProducer int) {
	if testing.Short() {
		return 4, 250
	}
	return 4, 20000
}

// TestStressNoLossBlock: a small OverflowBlock queue, so producers wait for
// room, with retries and dead letters.
func TestStressNoLossBlock(t *testing.T) {
	p, n := stressSize()
	runStress(t, stressSpec{
		producers: p, perProducer: n, consumers: 3, receivers: 2,
		maxDeliveries: 3,
		work:          []QueueOption{WithCapacity(64), WithBackoff(50*time.Microsecond, time.Millisecond)},
		reasons:       []string{ReasonRejected, ReasonDeliveryLimit, ReasonExpired},
		maxTTL:        2 * time.Millisecond,
		handler:       stressBasicHandler,
		receive:       stressBasicReceive,
		timeout:       20 * time.Second,
		waitLimit:     500 * time.Microsecond,
	})
}

// TestStressNoLossDropOldest: producers never wait; what overflows is
// dropped and dead-lettered with reason "maxlen".
func TestStressNoLossDropOldest(t *testing.T) {
	p, n := stressSize()
	runStress(t, stressSpec{
		producers: p, perProducer: n, consumers: 3, receivers: 2,
		maxDeliveries: 3,
		work: []QueueOption{WithCapacity(16), WithOverflow(OverflowDropOldest),
			WithBackoff(50*time.Microsecond, time.Millisecond)},
		reasons:   []string{ReasonRejected, ReasonDeliveryLimit, ReasonMaxLen, ReasonExpired},
		maxTTL:    2 * time.Millisecond,
		handler:   stressBasicHandler,
		receive:   stressBasicReceive,
		timeout:   20 * time.Second,
		waitLimit: 500 * time.Microsecond,
	})
}

// stressAckTimeout is the ack timeout of TestStressNoLossAckTimeout, on the
// fake clock of its synctest bubble.
const stressAckTimeout = time.Second

// stressWork simulates work taking d (fake time in a bubble); false if
// ctx ended first.
func stressWork(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// stressTimeoutHandler is a Consume handler for a queue with an ack timeout, run
// on synctest's clock: work shorter than the timeout must win its ack, work
// longer must lose it to the redelivery, and work of exactly the timeout
// races with the sweep.
func stressTimeoutHandler(t *testing.T, l *stressLedger, rng *stressRand) Handler {
	const T = stressAckTimeout
	return func(ctx context.Context, d *Delivery) error {
		switch n := rng.IntN(100); {
		case n < 35:
			if err := d.Ack(); err != nil {
				t.Errorf("%s: prompt Ack: %v", d.ID, err)
				return nil
			}
			l.recordAck(d.ID)
		case n < 45: // in time
			if !stressWork(ctx, T/2) {
				return ctx.Err()
			}
			if err := d.Ack(); err != nil {
				t.Errorf("%s: Ack after T/2: %v", d.ID, err)
				return nil
			}
			l.recordAck(d.ID)
		case n < 55: // exactly at the deadline: either may win, once
			if !stressWork(ctx, T) {
				return ctx.Err()
			}
			switch err := d.Ack(); {
			case err == nil:
				l.recordAck(d.ID)
			case !errors.Is(err, ErrSettled):
				t.Errorf("%s: Ack at T: %v", d.ID, err)
			}
		case n < 65: // too late: the message was redelivered
			if !stressWork(ctx, 2*T) {
				return ctx.Err()
			}
			if err := d.Ack(); !errors.Is(err, ErrSettled) {
				t.Errorf("%s: Ack after 2T = %v, want ErrSettled", d.ID, err)
				if err == nil {
					l.recordAck(d.ID)
				}
			}
		case n < 70: // stuck, then returns nil: must not ack what timed out
			if !stressWork(ctx, 2*T) {
				return ctx.Err()
			}
		case n < 80:
			return errors.New("transient failure")
		case n < 88:
			return Permanent(errors.New("malformed order"))
		case n < 93:
			if err := d.Reject(); err != nil {
				t.Errorf("%s: Reject: %v", d.ID, err)
			}
		default:
			panic("handler bug")
		}
		return nil
	}
}

func stressTimeoutReceive(t *testing.T, l *stressLedger, rng *rand.Rand, d *Delivery) {
	const T = stressAckTimeout
	switch n := rng.IntN(100); {
	case n < 45:
		if err := d.Ack(); err != nil {
			t.Errorf("%s: prompt Ack: %v", d.ID, err)
			return
		}
		l.recordAck(d.ID)
	case n < 55:
		time.Sleep(T / 2) // slow work, on the bubble's fake clock
		if err := d.Ack(); err != nil {
			t.Errorf("%s: Ack after T/2: %v", d.ID, err)
			return
		}
		l.recordAck(d.ID)
	case n < 65:
		// Forgotten: the ack timeout must redeliver it.
	case n < 75:
		time.Sleep(2 * T)
		if err := d.Ack(); !errors.Is(err, ErrSettled) {
			t.Errorf("%s: Ack after 2T = %v, want ErrSettled", d.ID, err)
			if err == nil {
				l.recordAck(d.ID)
			}
		}
		if err := d.Nack(); !errors.Is(err, ErrSettled) {
			t.Errorf("%s: Nack after 2T = %v, want ErrSettled", d.ID, err)
		}
	case n < 88:
		if err := d.Nack(); err != nil {
			t.Errorf("%s: Nack: %v", d.ID, err)
		}
	default:
		if err := d.Reject(); err != nil {
			t.Errorf("%s: Reject: %v", d.ID, err)
		}
	}
}

// TestStressNoLossAckTimeout: consumers that are slow, stuck or forgetful
// lose their deliveries to the ack timeout; late acks return ErrSettled and
// the accounting stays exact. It runs in a synctest bubble, so the timeouts
// take no real time and "late" is exact.
func TestStressNoLossAckTimeout(t *testing.T) {
	p, n := 4, 5000
	if testing.Short() {
		p, n = 4, 100
	}
	synctest.Test(t, func(t *testing.T) {
		runStress(t, stressSpec{
			producers: p, perProducer: n, consumers: 3, receivers: 2,
			maxDeliveries: 3,
			work: []QueueOption{WithCapacity(64), WithAckTimeout(stressAckTimeout),
				WithBackoff(50*time.Microsecond, time.Millisecond)},
			reasons:   []string{ReasonRejected, ReasonDeliveryLimit, ReasonExpired},
			maxTTL:    3 * stressAckTimeout,
			handler:   stressTimeoutHandler,
			receive:   stressTimeoutReceive,
			timeout:   time.Hour, // fake time: reached only if everything is stuck
			waitLimit: 2 * stressAckTimeout,
		})
	})
}

// TestStressWakeUpHandoff: a parked caller whose context ends just as it is
// woken must pass the wake-up on, or a message sits ready while a consumer
// sleeps (or a publisher waits while there is room). In a synctest bubble
// the wake-up and the timeout happen at the same instant, so every round is
// a real race between them, and synctest.Wait shows the state it left.
func TestStressWakeUpHandoff(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	const at = time.Second

	t.Run("Receive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "work")
			gaveUp := 0
			for r := range rounds {
				// first in line gives up at the instant the message comes;
				// second in line must then get it.
				first, second := make(chan error, 1), make(chan error, 1)
				receive := func(ctx context.Context, res chan<- error) {
					d, err := q.Receive(ctx)
					if err == nil {
						err = d.Ack()
					}
					res <- err
				}
				ctx1, cancel1 := context.WithTimeout(context.Background(), at)
				go receive(ctx1, first)
				synctest.Wait()
				ctx2, cancel2 := context.WithCancel(context.Background())
				go receive(ctx2, second)
				synctest.Wait()

				time.Sleep(at)
				if err := q.Publish(context.Background(), NewMessage(r)); err != nil {
					t.Fatal(err)
				}
				err1 := <-first
				synctest.Wait()
				if n := q.Len(); n != 0 {
					t.Fatalf("round %d: first receiver returned %v, and %d message(s) stay ready while the second is parked", r, err1, n)
				}
				if err1 == nil {
					cancel2() // it had nothing to get
				} else {
					gaveUp++
				}
				err2 := <-second
				if (err1 == nil) == (err2 == nil) {
					t.Fatalf("round %d: receivers returned %v and %v, want exactly one message", r, err1, err2)
				}
				cancel1()
				cancel2()
			}
			t.Logf("the first receiver gave up in %d of %d rounds", gaveUp, rounds)
			if s := q.Stats(); s.Acked != uint64(rounds) {
				t.Errorf("acked %d, want %d", s.Acked, rounds)
			}
		})
	})

	t.Run("Publish", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "work", WithCapacity(1))
			if err := q.Publish(context.Background(), NewMessage("filler")); err != nil {
				t.Fatal(err)
			}
			gaveUp := 0
			for r := range rounds {
				// first in line gives up at the instant room is made;
				// second in line must then use it.
				first, second := make(chan error, 1), make(chan error, 1)
				ctx1, cancel1 := context.WithTimeout(context.Background(), at)
				go func() { first <- q.Publish(ctx1, NewMessage(r)) }()
				synctest.Wait()
				ctx2, cancel2 := context.WithCancel(context.Background())
				go func() { second <- q.Publish(ctx2, NewMessage(r)) }()
				synctest.Wait()

				time.Sleep(at)
				d, err := q.Receive(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				d.Ack()
				err1 := <-first
				synctest.Wait()
				if n := q.Len(); n != 1 {
					t.Fatalf("round %d: first publisher returned %v, and the queue holds %d with room for 1 while the second is parked", r, err1, n)
				}
				if err1 == nil {
					cancel2() // no room left for it
				} else {
					gaveUp++
				}
				err2 := <-second
				if (err1 == nil) == (err2 == nil) {
					t.Fatalf("round %d: publishers returned %v and %v, want exactly one accepted", r, err1, err2)
				}
				cancel1()
				cancel2()
			}
			t.Logf("the first publisher gave up in %d of %d rounds", gaveUp, rounds)
			if s := q.Stats(); s.Published != uint64(rounds)+1 {
				t.Errorf("published %d, want %d", s.Published, rounds+1)
			}
		})
	})
}
