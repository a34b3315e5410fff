package herald

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/ring"
)

// Queue is a point-to-point, at-least-once FIFO: each message goes to
// exactly one of the competing consumers and leaves the queue only when it
// is acked, rejected, expired or dead-lettered. Declare one with
// [Broker.Queue]; it is safe for concurrent use.
//
// Order: consumers are handed messages in publish order: a publish that
// returned comes before every publish that starts after it, so each
// producer's messages come out in the order it published them (publishes
// of several goroutines that overlap take some order). A nacked message
// goes to the back after its back-off; one whose ack timeout passed goes
// back to the front. With several consumers, or a consumer with
// concurrency above 1, handlers run in parallel and may finish out of order.
//
// Cost: a publish that finds room takes no lock, except to wake a parked
// consumer. It takes the queue's lock, which consumers take too, when the
// queue was declared with [WithTTL], [WithDedup] or [WithPriorities], the
// message has a TTL or a Delay, or, briefly, while another goroutine's
// lock-free publish is half done (it keeps the order above).
type Queue struct {
	// Set at declaration, read-only after (a topic sets its group's
	// ends.dur and ends.where before the group is used).
	b    *Broker
	name string
	cfg  queueConfig
	fast bool // publishes may skip the lock; see intake.go

	// Lock-free, read by every publish; see intake.go. occupied, which
	// every publish writes, has a 64-byte line of its own between the
	// read-mostly fields above and mu (queue_lock_test.go checks it).
	intake atomic.Pointer[ring.MPSC[entry]] // made by the first publish that skips the lock
	// sleepers is how many consumers are parked; held whether messages
	// wait in behind, which sends publishes to the lock.
	sleepers atomic.Int32
	held     atomic.Bool
	_        [56]byte
	// occupied counts the places taken against the capacity: ready,
	// scheduled, in the intake or reserved by a publisher on its way in.
	occupied atomic.Int64
	_        [56]byte

	// mu guards the fields below, up to the next blank line; see "Locking"
	// below for how to take it.
	mu          sync.Mutex
	ready       readyList
	behind      readyList          // ready, but held behind an unfilled intake slot
	consumers   ring.Ring[*waiter] // parked in take, oldest first
	producers   ring.Ring[*waiter] // parked in publish (OverflowBlock)
	closed      bool
	delayed     int   // nacked messages waiting out their back-off
	scheduled   int   // published with a Delay, not yet due
	fed         bool  // has had a publish that was not a dead letter; see drain.go
	sweepAt     int64 // broker clock of the next expiry sweep; 0: none
	lastSweep   int64
	duplicates  uint64
	purged      uint64 // see Purge
	dedup       *dedupWindow
	dying       int // taken out, their dead letters being published
	published   uint64
	delivered   uint64
	inflight    deliveryList // unsettled deliveries, oldest first; only with an ack timeout
	ackSweepDue bool         // an ack-timeout sweep is scheduled
	unfreed     int          // places freed and not yet taken off occupied

	// Lock-free: settling takes no lock, it counts in the delivery's
	// settleCounts (settles.workers, the list of them, is guarded by mu).
	// Unacked is what was delivered and not yet settled.
	settles   tally
	receivers atomic.Int32 // Receive calls in progress
	ends      endings      // how messages ended, counted outside mu

	sac *singleActive // WithSingleActiveConsumer, set at declaration; nil without
}

// QueueStats is a snapshot of a queue's counters. Every published message
// is in exactly one of Acked, Rejected, Expired, Dropped, Purged (its end)
// or Ready, Unacked, Delayed, Scheduled (still in the queue), so
// Published = Acked + Rejected + Expired + Dropped + Purged + Ready +
// Unacked + Delayed + Scheduled in every snapshot, even while messages are
// being settled or dead-lettered: a message counts as ended as soon as it
// leaves, before its dead letter is published.
type QueueStats struct {
	Published uint64 // messages accepted by publish
	Delivered uint64 // deliveries handed to consumers, redeliveries included
	Acked     uint64 // ended acked
	Nacked    uint64 // nacks, each followed by a redelivery or a dead letter
	// Rejected counts messages ended by Reject, a permanent handler error,
	// or reaching the max deliveries.
	Rejected uint64
	Expired  uint64 // ended by TTL before delivery
	Dropped  uint64 // ended by the overflow policy
	Purged   uint64 // ended by Purge
	// DeadLettered counts the Rejected, Expired and Dropped messages that
	// were published to the dead-letter destination; DeadLetterFailed those
	// for which that publish failed (the destination missing or full) or
	// that were dropped because they would cycle (see [HeaderDeathPath]).
	DeadLettered     uint64
	DeadLetterFailed uint64

	// Duplicates counts publishes refused with ErrDuplicate; they are not
	// in Published.
	Duplicates uint64

	Ready     int // waiting for a consumer; what Len returns
	Unacked   int // handed out and not settled
	Delayed   int // nacked and waiting out their back-off
	Scheduled int // published with a Delay that has not passed

	// Consumers counts the handler goroutines of the Consume calls running
	// on the queue (WithConcurrency(n) counts n); Receive calls do not
	// count.
	Consumers int
}

func newQueue(b *Broker, name string, cfg queueConfig) *Queue {
	q := &Queue{b: b, name: name, cfg: cfg, fast: intakeFits(cfg), ready: newReadyList(cfg.priorities), behind: newReadyList(1)}
	if cfg.dedup > 0 {
		q.dedup = newDedupWindow(int64(cfg.dedup))
	}
	q.ends = newEndings(b, name, cfg.redeliveryConfig)
	if cfg.singleActive {
		q.sac = new(singleActive)
	}
	return q
}

func (q *Queue) kind() string    { return "queue" }
func (q *Queue) broker() *Broker { return q.b }

// Locking. q.mu guards the fields the struct lists under it. It is taken
// through one of three methods, never with a bare q.mu.Lock, and let go
// with q.mu.Unlock:
//
//   - lock: the default. It drains the intake (see intake.go) into the
//     ready list, so the holder sees every publish that has returned, in
//     publish order. Anything that reads or changes the ready list, or
//     the counters a drain moves (published, fed), uses it.
//   - lockToTake: a consumer's take. It drains only when nothing is
//     ready, so a consumer that is behind leaves alone the intake's cache
//     lines that publishers write.
//   - lockSkipIntake: bookkeeping that touches none of that (the list of
//     handler goroutines, the ack-timeout list): it leaves the intake to
//     the next lock.
//
// Methods named for the lock say what they do with it:
//
//   - xLocked: q.mu is held on entry and on return, and never let go in
//     between.
//   - xRelocking: q.mu is held on entry and on return, but let go of and
//     taken again (with lock) in between, as sync.Cond.Wait does: what the
//     caller read under q.mu before the call may have changed.
//   - xAndUnlock: q.mu is held on entry and let go of before return.
//
// TestQueueLockProtocolNames holds the package's code to these rules.
//
// Lock order: q.mu before a singleActive's mu; q.mu is never held while a
// dead letter is published or user code (a handler, a transform, an
// observer) runs.

// lock locks q.mu and moves the intake into the ready list.
func (q *Queue) lock() {
	q.mu.Lock()
	q.drainIntakeLocked()
}

// lockToTake locks q.mu for a consumer, draining the intake only when no
// message is ready: whatever is in the intake is newer than everything
// ready, because every push to the back of the ready list drains it first.
// So a consumer that is behind does not touch the cache lines publishers
// are writing; a publisher that finds the intake full drains it.
func (q *Queue) lockToTake() {
	q.mu.Lock()
	if q.ready.Len() == 0 {
		q.drainIntakeLocked()
	}
}

// lockSkipIntake locks q.mu without draining the intake, for a holder that
// neither reads nor changes the ready list or the counters a drain moves.
func (q *Queue) lockSkipIntake() { q.mu.Lock() }

// Name returns the name the queue was declared with.
func (q *Queue) Name() string { return q.name }

// Len returns the number of ready messages, not counting unacked ones or
// those waiting out a back-off.
func (q *Queue) Len() int {
	q.lock()
	defer q.mu.Unlock()
	return q.readyLen()
}

// Stats returns a snapshot of the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.lock()
	defer q.mu.Unlock()
	_, acked, nacked, rejected := q.settles.sum()
	return QueueStats{
		Published:        q.published,
		Delivered:        q.delivered,
		Acked:            acked,
		Nacked:           nacked,
		Rejected:         rejected + q.ends.limited.Load(),
		Expired:          q.ends.expired.Load(),
		Dropped:          q.ends.dropped.Load(),
		Purged:           q.purged,
		DeadLettered:     q.ends.deadLettered.Load(),
		DeadLetterFailed: q.ends.deadLetterFailed.Load(),
		Ready:            q.readyLen(),
		Unacked:          int(q.delivered - acked - nacked - rejected),
		Delayed:          q.delayed,
		Scheduled:        q.scheduled,
		Duplicates:       q.duplicates,
		Consumers:        len(q.settles.workers),
	}
}

// Publish adds m to the queue, assigning m.ID and m.Time when empty. When
// the queue is full it follows the queue's [Overflow] policy: with
// OverflowBlock it waits for room until ctx ends (returning ctx.Err()) or
// the broker closes; with OverflowReject it returns an error wrapping
// ErrFull. It returns ErrClosed after Close or once Shutdown has begun, and
// ErrInvalid for a nil message or context.
func (q *Queue) Publish(ctx context.Context, m *Message) error {
	if err := q.b.checkPublish(ctx, m); err != nil {
		return err
	}
	return q.b.publishTo(ctx, q, m)
}

// put enqueues a stamped message. internal publishes (dead letters) never
// wait for room and are accepted while the broker drains.
func (q *Queue) put(ctx context.Context, m *Message, internal bool) error {
	if q.ends.dur != nil {
		if dq := q.durable(); dq != nil {
			return dq.put(ctx, m, internal) // see durable_queue.go
		}
	}
	return q.putSeq(ctx, m, 0, internal)
}

// putSeq is put for a topic's group, whose deliveries carry the topic's
// sequence number.
func (q *Queue) putSeq(ctx context.Context, m *Message, seq uint64, internal bool) error {
	if q.b.beginPut() {
		defer q.b.endPut(true)
	}
	if internal && cycles(ctx, m, q.name) {
		return fmt.Errorf("%w: %s died in queue %q before (%s: %s)", errDeadLetterCycle, m.ID, q.name, HeaderDeathPath, m.Headers[HeaderDeathPath])
	}
	if q.cfg.transform != nil {
		out, err := q.b.transform(q.cfg.transform, m)
		if err != nil {
			return fmt.Errorf("queue %q: %w", q.name, err)
		}
		m = out
	}
	e := entry{m: m, seq: seq}
	if q.fastEligible(m, internal) {
		if done, err := q.putFast(ctx, e); done {
			return err
		}
	}
	var w *waiter
	defer func() {
		if w != nil {
			q.b.putWaiter(w)
		}
	}()
	q.lock()
	for {
		if q.closed || (!internal && q.b.draining.Load() && !q.b.fromHandler(ctx)) {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.dedup != nil && q.dedup.contains(m.ID, q.b.clock()) {
			q.duplicates++
			q.mu.Unlock()
			return fmt.Errorf("%w: ID %q in queue %q", ErrDuplicate, m.ID, q.name)
		}
		if !q.fed && ctx.Value(deadRunKey{}) == nil {
			q.fed = true
		}
		q.flushFreedLocked()
		if q.reserve() {
			q.acceptAndUnlock(&e)
			return nil
		}
		switch q.cfg.overflow {
		case OverflowReject:
			q.mu.Unlock()
			return fmt.Errorf("%w: queue %q holds %d messages", ErrFull, q.name, q.cfg.capacity)
		case OverflowDropOldest, OverflowDropNewest:
			if q.cfg.overflow == OverflowDropOldest {
				if old, ok := q.popOldestLocked(); ok {
					// The new message takes the old one's place.
					q.dieRelocking(ctx, old, endDropped, ReasonMaxLen, nil)
					q.acceptAndUnlock(&e)
					return nil
				}
				// All the room is taken by delayed messages: drop the new one.
			}
			q.published++
			q.rememberLocked(m)
			q.dieRelocking(ctx, e, endDropped, ReasonMaxLen, nil)
			q.mu.Unlock()
			return nil
		}
		// OverflowBlock.
		if internal {
			q.mu.Unlock()
			return fmt.Errorf("%w: queue %q holds %d messages", ErrFull, q.name, q.cfg.capacity)
		}
		if w == nil {
			w = q.b.getWaiter()
		}
		if err := q.parkRelocking(ctx, w, &q.producers); err != nil {
			q.mu.Unlock()
			return err
		}
	}
}

// putForced adds a message for a topic's group past the capacity if need
// be: the topic checked for room before it wrote the message to its ring.
func (q *Queue) putForced(m *Message, seq uint64) error {
	if q.b.beginPut() {
		defer q.b.endPut(true)
	}
	q.lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.fed = true
	q.forcePlace()
	q.acceptAndUnlock(&entry{m: m, seq: seq})
	return nil
}

// popOldestLocked takes out the message OverflowDropOldest sacrifices:
// the oldest of the lowest priority, else the oldest held behind the
// intake.
func (q *Queue) popOldestLocked() (entry, bool) {
	if e, ok := q.ready.PopOldestLeast(); ok {
		return e, true
	}
	return q.behind.PopFront()
}

// hasRoom reports whether a publish would find room.
func (q *Queue) hasRoom() bool {
	q.lock()
	defer q.mu.Unlock()
	return q.roomLocked()
}

// roomLocked reports whether a publish would find room: delayed messages
// hold their place too.
func (q *Queue) roomLocked() bool { return q.takenLocked() < int64(q.cfg.capacity) }

// awaitRoom waits, as a parked publisher, until the queue has room, ctx
// ends or the broker closes.
func (q *Queue) awaitRoom(ctx context.Context, w *waiter) error {
	q.lock()
	for !q.roomLocked() {
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if err := q.parkRelocking(ctx, w, &q.producers); err != nil {
			q.mu.Unlock()
			return err
		}
	}
	// Pass on the wake-up: this waiter publishes nothing here itself.
	q.wakeProducerLocked()
	q.mu.Unlock()
	return nil
}

// acceptAndUnlock adds a message that holds a place, ready now or after its
// Delay, and lets go of q.mu (before it schedules the Delay).
func (q *Queue) acceptAndUnlock(e *entry) {
	m := e.m
	e.expires = q.expiry(m)
	q.published++
	q.rememberLocked(m)
	if m.Delay <= 0 {
		q.readyLocked(*e)
		q.mu.Unlock()
		return
	}
	q.scheduled++
	q.mu.Unlock()
	if !q.b.sched.At(q.dueOrExpiry(m.Delay, e.expires), timed{q: q, e: *e, kind: timedDelay}) {
		q.delayDue(context.Background(), *e) // the broker closed: keep it as ready
	}
}

// dueOrExpiry returns when a message waiting wait from now must be looked
// at again: when the wait ends, or when it expires if that comes first, so
// that a delayed or backing-off message expires on time.
func (q *Queue) dueOrExpiry(wait time.Duration, expires int64) time.Time {
	due := time.Now().Add(wait)
	if expires != 0 {
		if at := q.b.epoch.Add(time.Duration(expires)); at.Before(due) {
			return at
		}
	}
	return due
}

// readyLocked makes e ready and wakes a consumer for it; or, while a
// publish in the intake is unfilled, holds e behind it (see intake.go).
func (q *Queue) readyLocked(e entry) {
	if q.stalledLocked() || q.behind.Len() > 0 {
		q.behind.PushBack(e)
		q.held.Store(true)
	} else {
		q.ready.PushBack(e)
		q.wakeConsumerLocked()
	}
	if e.expires != 0 {
		q.sweepBeforeLocked(e.expires)
	}
}

func (q *Queue) rememberLocked(m *Message) {
	if q.dedup != nil {
		q.dedup.add(m.ID, q.b.clock())
	}
}

// delayDue makes a delayed message ready, unless it expired meanwhile.
func (q *Queue) delayDue(ctx context.Context, e entry) {
	q.lock()
	q.scheduled--
	if e.expires != 0 && q.b.clock() >= e.expires {
		q.freeLocked(1)
		q.dieRelocking(ctx, e, endExpired, ReasonExpired, nil)
		q.wakeProducerLocked()
	} else {
		q.readyLocked(e)
	}
	q.mu.Unlock()
}

// expiry returns when a message published now expires on the broker clock:
// after the shorter of the queue's and the message's TTL.
func (q *Queue) expiry(m *Message) int64 {
	ttl := q.cfg.ttl
	if m.TTL > 0 && (ttl == 0 || m.TTL < ttl) {
		ttl = m.TTL
	}
	if ttl == 0 {
		return 0
	}
	return deadline(q.b.clock(), ttl)
}

// deadline returns now+d on the broker clock, or 0 (never) when that is
// past the clock's range: a TTL of math.MaxInt64 means forever, not an
// overflow into the past.
func deadline(now int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-now {
		return 0
	}
	return now + int64(d)
}

// Receive waits for the next ready message and hands it to the caller, who
// must settle it with Ack, Nack or Reject (or let the ack timeout redeliver
// it). It blocks until a message is ready, ctx ends (returning ctx.Err()) or
// the broker closes (ErrClosed); after Shutdown it returns what is left,
// then ErrClosed once the queue is empty and settled.
func (q *Queue) Receive(ctx context.Context) (*Delivery, error) {
	if ctx == nil {
		return nil, invalidf("nil context")
	}
	if q.sac != nil {
		return q.receiveSingle(ctx) // see singleactive.go
	}
	q.receivers.Add(1)
	defer q.doneReceiving()
	d := new(Delivery)
	if err := q.take(ctx, nil, d, &q.settles.shared, nil); err != nil {
		return nil, err
	}
	q.b.observeDeliver(ctx, d, false)
	return d, nil
}

// take waits for the next live message and makes d its delivery.
// Its settlement is counted in counts. It parks on w, or with a nil w
// (Receive's) on a pooled waiter, taken only if it has to park.
func (q *Queue) take(ctx context.Context, w *waiter, d *Delivery, counts *settleCounts, buf *prefetchBuf) error {
	if buf != nil && buf.Len() > 0 {
		return q.takePrefetched(ctx, w, d, counts, buf)
	}
	spins := 0
	q.lockToTake()
	for {
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if e, ok := q.ready.PopFront(); ok {
			q.freeLocked(1)
			if e.expires != 0 && q.b.clock() >= e.expires {
				q.dieRelocking(context.Background(), e, endExpired, ReasonExpired, nil)
				q.wakeProducerLocked()
				continue
			}
			e.attempt++
			q.delivered++
			q.wakeProducerLocked()
			if q.cfg.ackTimeout > 0 {
				d.reset(q, e, counts)
				q.trackLocked(d) // listed under mu, where the sweep looks
				q.mu.Unlock()
				return nil
			}
			if buf != nil {
				q.drainIntakeLocked()
				q.prefetchRelocking(buf)
			}
			q.mu.Unlock()
			d.reset(q, e, counts)
			return nil
		}
		if q.b.drained.Load() {
			q.mu.Unlock()
			return errDrained
		}
		if spins < maxSpins {
			// A publisher is often about to hand over the next message:
			// yielding a few times costs less than parking and being woken.
			spins++
			q.mu.Unlock()
			runtime.Gosched()
			q.lockToTake()
			continue
		}
		spins = 0
		if err := q.parkToTakeRelocking(ctx, w); err != nil {
			q.mu.Unlock()
			return err
		}
	}
}

// parkToTakeRelocking is parkRelocking on q.consumers, on a pooled waiter
// when w is nil: a woken waiter is off every list, so it goes back at once.
func (q *Queue) parkToTakeRelocking(ctx context.Context, w *waiter) error {
	if w != nil {
		return q.parkRelocking(ctx, w, &q.consumers)
	}
	w = q.b.getWaiter()
	err := q.parkRelocking(ctx, w, &q.consumers)
	q.b.putWaiter(w)
	return err
}

// parkRelocking parks w on list, with q.mu let go of, until it is woken or
// ctx ends; then it takes q.mu again and returns nil, or ctx.Err() if ctx
// ended first.
func (q *Queue) parkRelocking(ctx context.Context, w *waiter, list *ring.Ring[*waiter]) error {
	if list == &q.consumers {
		// Tell publishers first, then look at the intake once more: a
		// publish that did not see this consumer parking is in it by now.
		q.sleepers.Store(int32(list.Len() + 1))
		if q.drainIntakeLocked() > 0 {
			q.noteSleepersLocked()
			return nil
		}
	}
	list.PushBack(w)
	w.parked = true
	q.mu.Unlock()
	select {
	case <-w.ch:
	case <-ctx.Done():
		q.lock()
		q.abandonLocked(w, list)
		return ctx.Err()
	}
	q.lock()
	return nil
}

// maxSpins bounds how often take yields before it parks.
const maxSpins = 4

// errDrained tells a consumer that Shutdown has emptied its queue. Receive
// reports it as ErrClosed; Consume returns nil.
var errDrained = fmt.Errorf("%w: drained", ErrClosed)

// idleLocked reports whether the queue holds nothing: no ready, unacked,
// delayed or dying message.
func (q *Queue) idleLocked() bool {
	return q.readyLen() == 0 && q.delayed == 0 && q.scheduled == 0 && q.dying == 0 && q.unackedLocked() == 0 &&
		q.takenLocked() == 0 // no publisher between its reservation and the intake
}

// dieRelocking ends e, which the caller has taken out of the queue. The
// ending is counted at once, so that Stats never lose e; then, if e is to
// be dead-lettered, q.mu is let go of while the dead letter is published,
// and e counts as dying meanwhile so that Shutdown does not mistake the
// queue for idle.
func (q *Queue) dieRelocking(ctx context.Context, e entry, how ending, reason string, cause error) {
	q.ends.count(how, 1)
	if q.ends.dest != "" || q.ends.observed() {
		q.dying++
		q.mu.Unlock()
		q.ends.deadLetter(ctx, e, how, reason, cause)
		q.lock()
		q.dying--
	}
	q.signalIfQuietLocked()
}

// dieAllRelocking is dieRelocking for several messages, counted at once.
func (q *Queue) dieAllRelocking(ctx context.Context, es []entry, how ending, reason string, cause error) {
	if len(es) == 0 {
		return
	}
	q.ends.count(how, uint64(len(es)))
	if q.ends.dest != "" || q.ends.observed() {
		q.dying += len(es)
		q.mu.Unlock()
		for _, e := range es {
			q.ends.deadLetter(ctx, e, how, reason, cause)
		}
		q.lock()
		q.dying -= len(es)
	}
	q.signalIfQuietLocked()
}

// settle applies a won settlement of one of q's deliveries.
func (q *Queue) settle(d *Delivery, how uint64, cause error) {
	if v, ok := cause.(settleVariant); ok && how == settledNack {
		q.settleVariant(d, v) // Requeue or Release; see settlevariants.go
	} else if how == settledNack {
		if ko := d.keyOrderOf(); ko != nil && ko.nack(d, cause) {
			// held by a consumer WithKeyOrdering; see keyorder.go
		} else if q.sac == nil || !q.holdNack(d, cause) {
			q.nack(d, cause)
		}
	} else {
		if q.cfg.ackTimeout > 0 {
			q.lockSkipIntake()
			q.inflight.remove(d)
			q.mu.Unlock()
		}
		settleEntry(d, how, cause, &q.cfg.redeliveryConfig, &q.ends, q)
	}
	if q.sac != nil {
		q.sac.release(d) // a Receive's delivery held the queue
	}
	q.b.noteSettled(q)
}

// nack sends a nacked delivery's message back for another attempt, or to
// its end at the max deliveries, and counts the nack in the same critical
// section: Stats never see the message both unacked and backing off, or
// both unacked and ended.
func (q *Queue) nack(d *Delivery, cause error) {
	e := d.entry()
	q.ends.observeSettle(e, settledNack, cause)
	q.lock()
	q.inflight.remove(d)
	d.counts.nacked.Add(1)
	limited := q.cfg.maxDeliveries > 0 && int(e.attempt) >= q.cfg.maxDeliveries
	if limited {
		q.dieRelocking(context.Background(), e, endLimited, ReasonDeliveryLimit, cause)
	} else {
		q.retryLocked(e)
	}
	q.mu.Unlock()
	if limited {
		q.b.replies.rejected(e.m, cause)
	}
}

// retry makes a nacked message ready again after its back-off.
func (q *Queue) retry(e entry) {
	q.lock()
	q.retryLocked(e)
	q.mu.Unlock()
}

func (q *Queue) retryLocked(e entry) {
	if wait := backoff(q.cfg.redeliveryConfig, int(e.attempt)); wait > 0 {
		q.delayed++
		if q.b.sched.At(q.dueOrExpiry(wait, e.expires), timed{q: q, e: e, kind: timedRetry}) {
			return
		}
		q.delayed-- // the broker closed: keep the message as ready
	}
	q.forcePlace()
	q.readyLocked(e)
}

// backoff returns the wait before attempt+1: min doubled per attempt,
// capped at max (doubling past max/2 goes straight to max, so that it
// cannot overflow).
func backoff(c redeliveryConfig, attempt int) time.Duration {
	d := c.backoffMin
	for i := 1; i < attempt && d < c.backoffMax; i++ {
		if d > c.backoffMax/2 {
			return c.backoffMax
		}
		d *= 2
	}
	return min(d, c.backoffMax)
}

// retryDue puts a message whose back-off has passed at the back of the queue.
func (q *Queue) retryDue(ctx context.Context, e entry) {
	q.lock()
	q.delayed--
	if e.expires != 0 && q.b.clock() >= e.expires {
		q.dieRelocking(ctx, e, endExpired, ReasonExpired, nil)
	} else {
		q.forcePlace()
		q.readyLocked(e)
	}
	q.mu.Unlock()
}

func (q *Queue) idle() bool {
	q.lock()
	defer q.mu.Unlock()
	return q.idleLocked()
}

func (q *Queue) activity() uint64 {
	q.lock()
	defer q.mu.Unlock()
	return q.published
}

func (q *Queue) wakeAll() {
	q.lock()
	q.wakeAllLocked()
	q.mu.Unlock()
}

// close wakes every parked consumer and producer; they see closed and
// return ErrClosed.
func (q *Queue) close() {
	q.lock()
	q.closed = true
	q.wakeAllLocked()
	q.mu.Unlock()
}

func (q *Queue) wakeAllLocked() {
	for q.consumers.Len() > 0 {
		q.wakeConsumerLocked()
	}
	for q.producers.Len() > 0 {
		w, _ := q.producers.PopFront()
		w.wake()
	}
}

func (q *Queue) wakeConsumerLocked() {
	if w, ok := q.consumers.PopFront(); ok {
		q.noteSleepersLocked()
		w.wake()
	}
}

func (q *Queue) wakeProducerLocked() {
	if q.producers.Len() > 0 && q.roomLocked() {
		w, _ := q.producers.PopFront()
		w.wake()
	}
}

// abandonLocked unparks w after its context ended. If w had already been
// woken, the wake-up was meant for whoever can use it, so it is passed on.
func (q *Queue) abandonLocked(w *waiter, list *ring.Ring[*waiter]) {
	if w.parked {
		w.unlist(list)
		q.noteSleepersLocked()
	} else if list == &q.consumers {
		if q.ready.Len() > 0 {
			q.wakeConsumerLocked()
		}
	} else {
		q.wakeProducerLocked()
	}
	w.drain() // every wake-up is sent under q.mu: none can come after this
}

// waiter is how a goroutine parks on a queue: a one-slot channel, so a
// wake-up is never lost and never blocks the waker.
type waiter struct {
	ch     chan struct{}
	parked bool // in a queue's list; guarded by that queue's mu
}

func (w *waiter) wake() {
	w.parked = false
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// unlist takes a parked w off list, keeping the others' order; the list's
// owner holds its lock.
func (w *waiter) unlist(list *ring.Ring[*waiter]) {
	for i, n := 0, list.Len(); i < n; i++ {
		x, _ := list.PopFront()
		if x != w {
			list.PushBack(x)
		}
	}
	w.parked = false
}

// drain empties w's channel of a wake-up that came too late, so that w can
// park again.
func (w *waiter) drain() {
	select {
	case <-w.ch:
	default:
	}
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }
