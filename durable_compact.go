package herald

import (
	"log/slog"

	"github.com/heraldmq/herald/internal/wal"
)

// compactEvery is how many releases pass between two looks for
// stragglers: a look costs a walk of the segment table.
const compactEvery = 64

// compactStragglers copies forward the live records that pin old segments
// (see wal.Log.Stragglers), so that a few long-lived messages do not keep
// every segment after theirs on disk. A copy carries the message's rid
// and current state; recovery keeps the last copy. It runs on the
// goroutine whose release triggered it, one at a time, and holds no lock
// of a queue while it writes.
func (s *durableStore) compactStragglers() {
	if !s.compact.TryLock() {
		return
	}
	defer s.compact.Unlock()
	below := s.log.Stragglers()
	if below == 0 {
		return
	}
	s.mu.Lock()
	qs := make([]*durableQueue, 0, len(s.queues))
	for _, dq := range s.queues {
		qs = append(qs, dq)
	}
	ts := make([]*durableTopic, 0, len(s.topics))
	for _, dt := range s.topics {
		ts = append(ts, dt)
	}
	s.mu.Unlock()
	for _, dq := range qs {
		if !dq.copyForward(below) {
			return
		}
	}
	for _, dt := range ts {
		if !dt.copyForward(below) {
			return
		}
	}
	s.copyWaiting(below)
}

// copyForward copies the queue's records in segments below below. It
// reports false if the log failed.
func (dq *durableQueue) copyForward(below uint64) bool {
	type straggler struct {
		m   *Message
		rec *durRec
	}
	var todo []straggler
	dq.mu.Lock()
	for m, r := range dq.recs {
		for x := r; x != nil; x = x.next {
			if x.pos.Segment < below {
				todo = append(todo, straggler{m, x})
			}
		}
	}
	dq.mu.Unlock()
	for _, t := range todo {
		dq.mu.Lock()
		snap := *t.rec
		dq.mu.Unlock()
		pos, err := dq.s.writePublish(dq.q.name, t.m, &snap)
		if err != nil {
			dq.s.b.log(slog.LevelWarn, "durable: compaction stopped", "dir", dq.s.dir, "error", err)
			return false
		}
		dq.mu.Lock()
		live := dq.linkedLocked(t.m, t.rec)
		old := t.rec.pos
		if live {
			t.rec.pos = pos
		}
		dq.mu.Unlock()
		if !live { // ended while it was copied: the copy must not outlive its tombstone
			dq.s.settle(snap.rid)
			old = pos
		}
		dq.s.log.Release(old)
		dq.s.copied.Add(1)
	}
	return true
}

// linkedLocked reports whether rec is still one of m's records.
func (dq *durableQueue) linkedLocked(m *Message, rec *durRec) bool {
	for x := dq.recs[m]; x != nil; x = x.next {
		if x == rec {
			return true
		}
	}
	return false
}

// copyWaiting copies forward the recovered messages still waiting for
// their destination. It holds s.mu, so a declaration waits for it.
func (s *durableStore) copyWaiting(below uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ms := range s.waiting {
		for _, d := range ms {
			if d.pos.Segment >= below {
				continue
			}
			c := *d // as it was, a topic's message with its seq
			c.pos = wal.Pos{}
			body, err := s.encode(d.m)
			if err != nil {
				return
			}
			pos, err := s.writeMsg(&c, body)
			if err != nil {
				return
			}
			s.log.Release(d.pos)
			d.pos = pos
			s.copied.Add(1)
		}
	}
}
