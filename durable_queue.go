package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/wal"
)

// durableQueue is what a Durable queue adds to its Queue: the log record
// of every message it holds. The live path is the Queue's, unchanged; the
// hooks here write records around it.
type durableQueue struct {
	s *durableStore
	q *Queue

	mu   sync.Mutex
	recs map[*Message]*durRec // the queue's messages; guarded by mu
}

// durRec is one message's record in the log. The same *Message published
// twice to a queue is two records, chained through next.
type durRec struct {
	rid     uint64
	pos     wal.Pos
	attempt int32
	expires int64 // absolute, Unix nanoseconds; 0: never
	due     int64 // absolute, of a Delay or back-off; 0: none
	next    *durRec
}

// makeQueue creates the queue declared as name; a Durable one gets its
// log state and the messages Open recovered for it. It runs under b.mu.
func (b *Broker) makeQueue(name string, cfg queueConfig) (*Queue, error) {
	if !cfg.durable {
		return newQueue(b, name, cfg), nil
	}
	if err := b.checkDurable("queue", name); err != nil {
		return nil, err
	}
	if cfg.transform != nil {
		return nil, invalidf("queue %q: Durable with WithTransform: the log holds what was published", name)
	}
	q := newQueue(b, name, cfg)
	dq := &durableQueue{s: b.dur, q: q, recs: map[*Message]*durRec{}}
	q.ends.dur = dq
	b.dur.mu.Lock()
	b.dur.queues[name] = dq
	b.dur.mu.Unlock()
	for _, d := range b.dur.takeWaiting(name) {
		dq.restore(d)
	}
	return q, nil
}

// durable returns q's durableQueue: nil for a queue in memory and for a
// topic's group.
func (q *Queue) durable() *durableQueue {
	dq, _ := q.ends.dur.(*durableQueue)
	return dq
}

// restore puts a recovered message back where it was: ready, waiting out
// its Delay or its back-off. A message that was delivered comes back
// ready with its attempts, so its next delivery is a redelivery.
func (dq *durableQueue) restore(d *durableMsg) {
	q := dq.q
	rec := &durRec{rid: d.rid, pos: d.pos, attempt: d.attempt, expires: d.expires, due: d.due}
	dq.mu.Lock()
	dq.linkLocked(d.m, rec)
	dq.mu.Unlock()
	e := entry{m: d.m, attempt: d.attempt, expires: q.b.fromUnix(d.expires)}
	restoreEntry(q, e, d.due)
}

// restoreEntry puts the recovered e into q (a durable queue, or a
// durable topic's group): ready, waiting out its Delay (at attempt 0) or
// its back-off until due (absolute, Unix nanoseconds; 0: none).
func restoreEntry(q *Queue, e entry, due int64) {
	wait := time.Duration(due - unixNow())
	q.lock()
	q.published++
	q.fed = true
	if q.dedup != nil { // its window counts from its Time, as before the restart
		q.dedup.add(e.m.ID, q.b.clockAt(e.m.Time.UnixNano()))
	}
	switch {
	case due != 0 && wait > 0 && e.attempt == 0: // a Delay
		q.scheduled++
		q.forcePlace()
		q.mu.Unlock()
		if !q.b.sched.At(q.dueOrExpiry(wait, e.expires), timed{q: q, e: e, kind: timedDelay}) {
			q.delayDue(context.Background(), e)
		}
	case due != 0 && wait > 0: // a back-off
		q.delayed++
		q.mu.Unlock()
		if !q.b.sched.At(q.dueOrExpiry(wait, e.expires), timed{q: q, e: e, kind: timedRetry}) {
			q.retryDue(context.Background(), e)
		}
	default:
		q.forcePlace()
		q.readyLocked(e)
		q.mu.Unlock()
	}
}

// put is Queue.put for a durable queue: the message's record is on disk,
// under the sync policy, before the queue takes it; if the queue refuses
// it, the record is settled again (a crash before that settle is on disk
// brings back a message whose Publish failed: at least once).
func (dq *durableQueue) put(ctx context.Context, m *Message, internal bool) error {
	q := dq.q
	if q.b.closed.Load() || !dq.s.puts.enter() {
		return ErrClosed
	}
	defer dq.s.puts.exit()
	if q.dedup != nil && dq.duplicate(m) {
		return fmt.Errorf("%w: ID %q in queue %q", ErrDuplicate, m.ID, q.name)
	}
	now := unixNow()
	rec := &durRec{rid: dq.s.nextRid()}
	ttl := q.cfg.ttl
	if m.TTL > 0 && (ttl == 0 || m.TTL < ttl) {
		ttl = m.TTL
	}
	if ttl > 0 && int64(ttl) < math.MaxInt64-now {
		rec.expires = now + int64(ttl)
	}
	if m.Delay > 0 && int64(m.Delay) < math.MaxInt64-now {
		rec.due = now + int64(m.Delay)
	}
	pos, err := dq.s.writePublish(q.name, m, rec)
	if err != nil {
		return fmt.Errorf("queue %q: %w", q.name, err)
	}
	rec.pos = pos
	dq.mu.Lock()
	dq.linkLocked(m, rec)
	dq.mu.Unlock()
	if err := q.putSeq(ctx, m, 0, internal); err != nil {
		dq.end(m)
		return err
	}
	return nil
}

// duplicate reports, and counts, a publish that WithDedup refuses, before
// its record is written: a crash could lose the settle record written
// after it and bring the duplicate back. putSeq checks again, for
// publishes of one ID that race.
func (dq *durableQueue) duplicate(m *Message) bool {
	q := dq.q
	q.lock()
	defer q.mu.Unlock()
	if !q.dedup.contains(m.ID, q.b.clock()) {
		return false
	}
	q.duplicates++
	return true
}

// writePublish appends the publish record of m with rec's state, waiting
// until it is durable under the sync policy, and returns where it is.
func (s *durableStore) writePublish(dest string, m *Message, rec *durRec) (wal.Pos, error) {
	body, err := s.encode(m)
	if err != nil {
		return wal.Pos{}, err
	}
	return s.writeMsg(&durableMsg{rid: rec.rid, dest: dest, m: m, attempt: rec.attempt, expires: rec.expires, due: rec.due}, body)
}

// writeMsg appends the publish record of d, whose body is stored as body,
// waiting until it is durable under the sync policy.
func (s *durableStore) writeMsg(d *durableMsg, body storedBody) (wal.Pos, error) {
	m := d.m
	p := appendPublish(make([]byte, 0, 64+len(body.data)+len(m.ID)+len(d.dest)), d, body.tag, body.data)
	pos, err := s.log.Append(recPublish, p)
	if err != nil {
		return wal.Pos{}, walError("durable publish", err)
	}
	return pos, nil
}

// encode returns m's body as the log stores it; an error wrapping
// ErrInvalid if the durable codec cannot encode it.
func (s *durableStore) encode(m *Message) (storedBody, error) {
	tag, data, err := encodeBody(s.codec, m.Body)
	return storedBody{tag, data}, err
}

// storedBody is a message's body as the log stores it.
type storedBody struct {
	tag  byte
	data []byte
}

func (dq *durableQueue) linkLocked(m *Message, rec *durRec) {
	rec.next = dq.recs[m]
	dq.recs[m] = rec
}

// unlinkLocked takes a record of m off the queue's table.
func (dq *durableQueue) unlinkLocked(m *Message) *durRec {
	rec := dq.recs[m]
	if rec == nil {
		return nil
	}
	if rec.next == nil {
		delete(dq.recs, m)
	} else {
		dq.recs[m] = rec.next
	}
	return rec
}

// end writes that m ended (acked, rejected, expired, dropped, purged) and
// releases its record: it does not come back. The settle record is not
// waited for: lost in a crash, it costs a redelivery.
func (dq *durableQueue) end(m *Message) {
	dq.mu.Lock()
	rec := dq.unlinkLocked(m)
	dq.mu.Unlock()
	if rec == nil {
		return
	}
	dq.s.settle(rec.rid)
	dq.s.release(rec.pos)
}

// settle appends the tombstone of rid.
func (s *durableStore) settle(rid uint64) {
	var buf [32]byte
	if err := s.log.AppendNoWait(recSettle, appendMark(buf[:0], rid, 0, 0)); err != nil && !errors.Is(err, wal.ErrClosed) {
		s.b.log(slog.LevelWarn, "durable: settle not written: the message may come back after a restart",
			"dir", s.dir, "error", err)
	}
}

// mark notes that m was delivered (recDeliver) or nacked with a back-off
// until due (recNack), so that recovery knows its attempts.
func (dq *durableQueue) mark(m *Message, typ byte, attempt int32, due int64) {
	dq.mu.Lock()
	rec := dq.recs[m]
	if rec != nil {
		rec.attempt, rec.due = max(rec.attempt, attempt), due
	}
	dq.mu.Unlock()
	if rec == nil {
		return
	}
	var buf [32]byte
	if err := dq.s.log.AppendNoWait(typ, appendMark(buf[:0], rec.rid, attempt, due)); err != nil && !errors.Is(err, wal.ErrClosed) {
		dq.s.b.log(slog.LevelWarn, "durable: delivery note not written", "dir", dq.s.dir, "error", err)
	}
}

// released notes that Release gave e back with attempt attempts, its
// delivery not counted.
func (dq *durableQueue) released(e entry, attempt int32) {
	dq.mu.Lock()
	rec := dq.recs[e.m]
	if rec != nil {
		rec.attempt, rec.due = attempt, 0
	}
	dq.mu.Unlock()
	if rec == nil {
		return
	}
	var buf [32]byte
	if err := dq.s.log.AppendNoWait(recRelease, appendMark(buf[:0], rec.rid, attempt, 0)); err != nil && !errors.Is(err, wal.ErrClosed) {
		dq.s.b.log(slog.LevelWarn, "durable: release note not written", "dir", dq.s.dir, "error", err)
	}
}

// observe is the queue's outcomes as an observer sees them (see
// endings.report): a nack notes the back-off, every other outcome ends
// the message.
func (dq *durableQueue) observe(_ entry, info EndInfo) {
	if info.Outcome != OutcomeNacked {
		dq.end(info.Message)
		return
	}
	var due int64
	if !errors.Is(info.Err, ErrAckTimeout) {
		if w := backoff(dq.q.cfg.redeliveryConfig, info.Attempt); w > 0 {
			due = unixNow() + int64(w)
		}
	}
	dq.mark(info.Message, recNack, int32(info.Attempt), due)
}

// durableEnds is what a durable queue or topic group hears of its
// messages (see endings.dur).
type durableEnds interface {
	// observe is told each outcome, as an Observer's End is.
	observe(e entry, info EndInfo)
	// delivered is told each delivery.
	delivered(e entry)
	// released is told that Release gave e back with attempt attempts,
	// before e is ready again, so that the note of its next delivery
	// follows in the log.
	released(e entry, attempt int32)
}

// delivered notes a delivery from a durable queue or group.
func (s *durableStore) delivered(d *Delivery) {
	if q, ok := d.src.(*Queue); ok && q.ends.dur != nil {
		q.ends.dur.delivered(d.entry())
	}
}

func (dq *durableQueue) delivered(e entry) { dq.mark(e.m, recDeliver, e.attempt, 0) }

// purged ends messages Purge took out.
func (dq *durableQueue) purged(ms []*Message) {
	for _, m := range ms {
		dq.end(m)
	}
}
