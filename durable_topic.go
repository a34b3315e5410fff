package herald

import (
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/heraldmq/herald/internal/wal"
)

// durableTopic is what a Durable topic adds to its Topic: the log record
// of every message the ring retains or a group still holds. A record is
// released when the ring has overwritten its message and every group that
// got it has ended it there.
type durableTopic struct {
	s *durableStore
	t *Topic

	markMu sync.Mutex // one recTopicSeq write at a time, so the last is the newest

	mu     sync.Mutex
	recs   map[uint64]*topicRec     // by seq; guarded by mu
	groups map[string]*durableGroup // by name, recovered or made; guarded by mu
	// attempts are the deliveries of messages groups hold, and dues
	// the back-offs of those they nacked, for copies made by compaction;
	// guarded by mu.
	attempts map[groupSeq]int32
	dues     map[groupSeq]int64
	// mark is the newest seq handed out to a publish that failed, while
	// no later publish is durable; guarded by mu. See failedSeq.
	mark topicMark
}

// topicMark is a recTopicSeq record: a seq that is not handed out again.
type topicMark struct {
	seq uint64
	pos wal.Pos // zero: none
}

type groupSeq struct {
	group string
	seq   uint64
}

// topicRec is one topic message's record.
type topicRec struct {
	rid     uint64
	pos     wal.Pos
	m       *Message
	pub     int64 // when it was published, absolute, Unix nanoseconds
	expires int64 // absolute, Unix nanoseconds; 0: never
	refs    int   // the ring, unless evicted, and each group that holds it
	evicted bool  // the ring has let go of it
}

// durableGroup is a durable topic's subscription group: its record, and,
// until a member joins after a restart, the messages it held.
type durableGroup struct {
	dt      *durableTopic
	name    string
	rid     uint64
	pos     wal.Pos
	start   uint64    // the first seq the group got
	pending []pending // recovered, for the group's queue when it is made
}

// pending is a recovered message of a group: ready, or backing off until
// due (absolute, Unix nanoseconds).
type pending struct {
	e   entry
	due int64
}

// groupState is what recovery learns of a group.
type groupState struct {
	rid      uint64
	pos      wal.Pos
	start    uint64
	done     map[uint64]bool  // topic rids the group ended
	attempts map[uint64]int32 // topic rids the group delivered
	dues     map[uint64]int64 // topic rids the group nacked: back-off due, absolute
}

// groupStates are recovered groups by topic and name.
type groupStates map[string]map[string]*groupState

func (gs groupStates) get(topic, group string) *groupState {
	byName := gs[topic]
	if byName == nil {
		byName = map[string]*groupState{}
		gs[topic] = byName
	}
	g := byName[group]
	if g == nil {
		g = &groupState{done: map[uint64]bool{}, attempts: map[uint64]int32{}, dues: map[uint64]int64{}}
		byName[group] = g
	}
	return g
}

// makeTopic creates the topic declared as name; a Durable one gets its
// retained messages, its sequence and its groups back. It runs under b.mu.
func (b *Broker) makeTopic(name string, cfg topicConfig) (*Topic, error) {
	t := newTopic(b, name, cfg)
	if !cfg.durable {
		return t, nil
	}
	if err := b.checkDurable("topic", name); err != nil {
		return nil, err
	}
	s := b.dur
	dt := &durableTopic{s: s, t: t, recs: map[uint64]*topicRec{}, groups: map[string]*durableGroup{}, attempts: map[groupSeq]int32{}, dues: map[groupSeq]int64{}}
	s.mu.Lock()
	msgs := s.waiting[name]
	delete(s.waiting, name)
	states := s.groups[name]
	delete(s.groups, name)
	dt.mark = s.marks[name]
	delete(s.marks, name)
	s.mu.Unlock()
	dt.mu.Lock()
	dt.restore(msgs, states)
	dt.mu.Unlock()
	s.mu.Lock()
	s.topics[name] = dt // compaction sees it from now on
	s.mu.Unlock()
	t.dur = dt
	return t, nil
}

// restore puts the recovered messages back into the ring and holds those
// the recovered groups had not ended, for their queues; dt.mu held.
func (dt *durableTopic) restore(msgs []*durableMsg, states map[string]*groupState) {
	t := dt.t
	slices.SortFunc(msgs, func(a, b *durableMsg) int { return compareU64(a.seq, b.seq) })
	tail := dt.mark.seq + 1 // a failed publish's seq is not handed out again
	if n := len(msgs); n > 0 {
		tail = max(tail, msgs[n-1].seq+1)
	}
	ringFrom := uint64(1)
	if tail > t.size() {
		ringFrom = tail - t.size()
	}
	for name, g := range states {
		if g.rid == 0 {
			continue // its record is gone: the group had ended
		}
		dg := &durableGroup{dt: dt, name: name, rid: g.rid, pos: g.pos, start: g.start}
		for _, d := range msgs {
			if d.seq >= g.start && !g.done[d.rid] {
				e := entry{m: d.m, attempt: g.attempts[d.rid], seq: d.seq, expires: t.b.fromUnix(d.expires)}
				dg.pending = append(dg.pending, pending{e, g.dues[d.rid]})
				if a := g.attempts[d.rid]; a > 0 {
					dt.attempts[groupSeq{name, d.seq}] = a
				}
				if due := g.dues[d.rid]; due != 0 {
					dt.dues[groupSeq{name, d.seq}] = due
				}
				dt.ref(d, false)
			}
		}
		dt.groups[name] = dg
	}
	for _, d := range msgs {
		if t.dedup != nil {
			t.dedup.add(d.m.ID, t.b.clockAt(published(d)))
		}
		if d.seq >= ringFrom {
			sl := &t.slots[d.seq&t.mask]
			sl.m.Store(d.m)
			sl.at.Store(t.b.clockAt(published(d)))
			sl.seq.Store(d.seq)
			t.published++
			dt.ref(d, true)
		}
		if dt.recs[d.seq] == nil { // neither retained nor held by a group
			dt.s.settle(d.rid)
			dt.s.log.Release(d.pos)
		}
	}
	t.tail.Store(tail)
}

// gap reports whether seq, which the ring would retain, has no message:
// its slot holds an older one, or none. Only a durable topic has gaps,
// after a restart: the sequence numbers of publishes that failed, and of
// messages that a smaller capacity before the restart let go of. In
// memory a slot is written before the tail passes it, so a reader never
// finds an older one there.
func (t *Topic) gap(seq uint64) bool {
	return t.dur != nil && t.slots[seq&t.mask].seq.Load() < seq
}

// ref counts one more holder of a recovered message.
func (dt *durableTopic) ref(d *durableMsg, ring bool) {
	r := dt.recs[d.seq]
	if r == nil {
		r = &topicRec{rid: d.rid, pos: d.pos, m: d.m, pub: published(d), expires: d.expires, evicted: true}
		dt.recs[d.seq] = r
	}
	r.refs++
	if ring {
		r.evicted = false
	}
}

// logPublish writes the publish record of m, whose body is stored as
// body (see durableStore.encode), which the ring holds as seq and groups
// got too, waiting until it is durable; and lets go of the message the
// ring overwrote for it.
func (dt *durableTopic) logPublish(m *Message, body storedBody, seq uint64, groups int) error {
	t := dt.t
	r := &topicRec{rid: dt.s.nextRid(), m: m, pub: unixNow(), refs: 1 + groups}
	if m.TTL > 0 && int64(m.TTL) < math.MaxInt64-r.pub {
		r.expires = r.pub + int64(m.TTL)
	}
	pos, err := dt.s.writeMsg(r.msg(t.name, seq), body)
	if err != nil {
		dt.failedSeq(seq)
		return err // the groups do not get it
	}
	r.pos = pos
	dt.mu.Lock()
	if old := dt.recs[seq]; old != nil { // groups ended it before it was logged
		r.refs += old.refs
	}
	dt.recs[seq] = r
	var outdated wal.Pos
	if dt.mark.pos != (wal.Pos{}) && seq > dt.mark.seq {
		outdated, dt.mark = dt.mark.pos, topicMark{}
	}
	dt.mu.Unlock()
	if outdated != (wal.Pos{}) {
		dt.s.release(outdated)
	}
	if seq > t.size() {
		dt.evict(seq - t.size())
	}
	if t.tail.Load() > seq+t.size() { // overwritten before it was logged
		dt.evict(seq)
	}
	return nil
}

// encode returns m's body as the log stores it (see durableStore.encode),
// before the ring takes m. Once an fsync has failed, every publish would
// fail after the ring took it, and readers would see messages that are
// not durable: it refuses them first, with the log's error.
func (dt *durableTopic) encode(m *Message) (storedBody, error) {
	if err := dt.s.log.Failed(); err != nil {
		return storedBody{}, walError("durable publish", err)
	}
	return dt.s.encode(m)
}

// failedSeq is told that the publish of seq failed on I/O after the ring
// took it: readers may have seen seq, so it must not be handed out again
// after a restart, as it would be if it were the newest. A recTopicSeq
// record says so, until a later publish is durable. The record is lost
// too if the log has failed for good (an fsync error): the failed
// record, which may be on disk after all, is then the only trace.
func (dt *durableTopic) failedSeq(seq uint64) {
	t := dt.t
	dt.markMu.Lock()
	defer dt.markMu.Unlock()
	dt.mu.Lock()
	newer := dt.mark.seq >= seq
	dt.mu.Unlock()
	if newer {
		return
	}
	pos, err := dt.s.log.Append(recTopicSeq, appendTopicSeq(nil, t.name, seq))
	if err != nil {
		dt.s.b.log(slog.LevelWarn, "durable: a failed publish's sequence number not logged: it may be handed out again after a restart",
			"topic", t.name, "seq", seq, "error", err)
		return
	}
	dt.mu.Lock()
	old := dt.mark.pos
	dt.mark = topicMark{seq: seq, pos: pos}
	dt.mu.Unlock()
	if old != (wal.Pos{}) {
		dt.s.release(old)
	}
}

// copyMark copies the mark forward if its record is below the segment
// below, under markMu so that no newer mark is written meanwhile. It
// reports false if the log failed.
func (dt *durableTopic) copyMark(below uint64) bool {
	dt.markMu.Lock()
	defer dt.markMu.Unlock()
	dt.mu.Lock()
	mk := dt.mark
	dt.mu.Unlock()
	if mk.pos == (wal.Pos{}) || mk.pos.Segment >= below {
		return true
	}
	pos, err := dt.s.log.Append(recTopicSeq, appendTopicSeq(nil, dt.t.name, mk.seq))
	if err != nil {
		return false
	}
	dt.mu.Lock()
	live := dt.mark.pos == mk.pos
	if live {
		dt.mark.pos = pos
	}
	dt.mu.Unlock()
	if live {
		dt.s.log.Release(mk.pos)
	} else { // a publish outdated it meanwhile
		dt.s.log.Release(pos)
	}
	dt.s.copied.Add(1)
	return true
}

// groupRefused is told that a group did not take seq, whose record is
// durable, and returns the error its Publish reports. A group refuses
// only because the broker is closing (its queue closed under the
// publish): the group then keeps its hold on the record, which recovery
// gives back to it, so the publish has succeeded, as it would have a
// moment earlier. Close waits for the publish (see putGate), so the
// record cannot be left half done. Any other refusal lets go of the hold.
func (dt *durableTopic) groupRefused(seq uint64, err error) error {
	if errors.Is(err, ErrClosed) {
		return nil
	}
	dt.unref(seq)
	return err
}

// evict lets go of the ring's hold on seq.
func (dt *durableTopic) evict(seq uint64) {
	dt.mu.Lock()
	r := dt.recs[seq]
	if r == nil || r.evicted || r.pos == (wal.Pos{}) {
		dt.mu.Unlock()
		return
	}
	r.evicted = true
	dt.mu.Unlock()
	dt.unref(seq)
}

// unref lets go of one hold on seq, and of its record after the last.
// A hold let go of before the record is logged is kept as a negative
// count, which logPublish adds.
func (dt *durableTopic) unref(seq uint64) {
	dt.mu.Lock()
	r := dt.recs[seq]
	if r == nil {
		r = &topicRec{}
		dt.recs[seq] = r
	}
	r.refs--
	if r.refs > 0 || r.pos == (wal.Pos{}) {
		dt.mu.Unlock()
		return
	}
	delete(dt.recs, seq)
	dt.mu.Unlock()
	dt.s.settle(r.rid) // so that recovery does not bring it back
	dt.s.release(r.pos)
}

// ridOf returns the rid of seq's record; 0 if it has none.
func (dt *durableTopic) ridOf(seq uint64) uint64 {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if r := dt.recs[seq]; r != nil {
		return r.rid
	}
	return 0
}

// joinGroup is the durable part of making group g: a group recovered
// under its name gets back the messages it held, with their attempts;
// a new one is logged, and its backfill is held for it. wmu is held.
func (dt *durableTopic) joinGroup(g *group, cfg *subscribeConfig) {
	t := dt.t
	dt.mu.Lock()
	dg := dt.groups[g.name]
	dt.mu.Unlock()
	g.q.ends.dur = dgHook{dt, g.name, g.q}
	if dg != nil {
		for _, p := range dg.pending {
			restoreEntry(g.q, p.e, p.due)
		}
		dg.pending = nil
		return
	}
	start := max(t.startCursorLocked(cfg), t.oldest())
	dg = &durableGroup{dt: dt, name: g.name, rid: dt.s.nextRid(), start: start}
	var buf []byte
	pos, err := dt.s.log.Append(recGroup, appendGroup(buf, dg.rid, t.name, g.name, start))
	if err != nil {
		dt.s.b.log(slog.LevelWarn, "durable: group not logged: it will not survive a restart",
			"topic", t.name, "group", g.name, "error", err)
	}
	dg.pos = pos
	dt.mu.Lock()
	dt.groups[g.name] = dg
	dt.mu.Unlock()
	t.backfillLocked(g, cfg, func(seq uint64) {
		dt.mu.Lock()
		r := dt.recs[seq]
		if r == nil { // published, not yet logged: logPublish adds this hold
			r = &topicRec{}
			dt.recs[seq] = r
		}
		r.refs++
		dt.mu.Unlock()
	})
}

// dgHook is what a durable group's queue tells its topic's log.
type dgHook struct {
	dt    *durableTopic
	group string
	q     *Queue // the group's
}

// observe ends the message in the group on every outcome but a nack,
// which it notes with its back-off's due time, as a durable queue does.
func (h dgHook) observe(e entry, info EndInfo) {
	if info.Outcome == OutcomeNacked {
		h.nacked(e, info)
		return
	}
	h.dt.mu.Lock()
	delete(h.dt.attempts, groupSeq{h.group, e.seq})
	delete(h.dt.dues, groupSeq{h.group, e.seq})
	h.dt.mu.Unlock()
	if rid := h.dt.ridOf(e.seq); rid != 0 {
		var buf [48]byte
		h.dt.s.log.AppendNoWait(recGDone, appendGroupMark(buf[:0], rid, 0, 0, h.group))
	}
	h.dt.unref(e.seq)
}

func (h dgHook) delivered(e entry) {
	h.dt.mu.Lock()
	h.dt.attempts[groupSeq{h.group, e.seq}] = e.attempt
	delete(h.dt.dues, groupSeq{h.group, e.seq})
	h.dt.mu.Unlock()
	if rid := h.dt.ridOf(e.seq); rid != 0 {
		var buf [48]byte
		h.dt.s.log.AppendNoWait(recGDeliver, appendGroupMark(buf[:0], rid, e.attempt, 0, h.group))
	}
}

// released notes a Release in the group: its attempts are attempt.
func (h dgHook) released(e entry, attempt int32) {
	h.dt.mu.Lock()
	h.dt.attempts[groupSeq{h.group, e.seq}] = attempt
	delete(h.dt.dues, groupSeq{h.group, e.seq})
	h.dt.mu.Unlock()
	if rid := h.dt.ridOf(e.seq); rid != 0 {
		var buf [48]byte
		h.dt.s.log.AppendNoWait(recGRelease, appendGroupMark(buf[:0], rid, attempt, 0, h.group))
	}
}

// nacked notes a nack in the group and when its back-off ends; an ack
// timeout's redelivery has none.
func (h dgHook) nacked(e entry, info EndInfo) {
	var due int64
	if !errors.Is(info.Err, ErrAckTimeout) {
		if w := backoff(h.q.cfg.redeliveryConfig, info.Attempt); w > 0 {
			due = unixNow() + int64(w)
		}
	}
	k := groupSeq{h.group, e.seq}
	h.dt.mu.Lock()
	h.dt.attempts[k] = max(h.dt.attempts[k], int32(info.Attempt))
	if due != 0 {
		h.dt.dues[k] = due
	} else {
		delete(h.dt.dues, k)
	}
	h.dt.mu.Unlock()
	if rid := h.dt.ridOf(e.seq); rid != 0 {
		var buf [48]byte
		h.dt.s.log.AppendNoWait(recGNack, appendGroupMark(buf[:0], rid, int32(info.Attempt), due, h.group))
	}
}

// msg is the publish record of r, the topic's message seq. A topic's
// message has no due time: the record's due field holds when it was
// published, from which the topic's max age and the message's TTL count.
func (r *topicRec) msg(topic string, seq uint64) *durableMsg {
	return &durableMsg{rid: r.rid, dest: topic, m: r.m, expires: r.expires, due: r.pub, seq: seq}
}

// published returns when the recovered topic message d was published: in
// its due field, or, in a log written before that field held it, its
// Time.
func published(d *durableMsg) int64 {
	if d.due != 0 {
		return d.due
	}
	return d.m.Time.UnixNano()
}

// copyForward copies the topic's records in segments below below: its
// messages and its groups' records. It reports false if the log failed.
func (dt *durableTopic) copyForward(below uint64) bool {
	type straggler struct {
		seq uint64
		r   *topicRec
	}
	var todo []straggler
	var groups []*durableGroup
	dt.mu.Lock()
	for seq, r := range dt.recs {
		if r.pos != (wal.Pos{}) && r.pos.Segment < below {
			todo = append(todo, straggler{seq, r})
		}
	}
	for _, g := range dt.groups {
		if g.pos != (wal.Pos{}) && g.pos.Segment < below {
			groups = append(groups, g)
		}
	}
	dt.mu.Unlock()
	for _, x := range todo {
		rid := x.r.rid
		dt.mu.Lock()
		d := x.r.msg(dt.t.name, x.seq)
		dt.mu.Unlock()
		body, err := dt.s.encode(d.m)
		if err != nil {
			return false
		}
		pos, err := dt.s.writeMsg(d, body)
		if err != nil {
			return false
		}
		dt.mu.Lock()
		live := dt.recs[x.seq] == x.r
		old := x.r.pos
		if live {
			x.r.pos = pos
		}
		dt.mu.Unlock()
		if !live { // released while it was copied: the copy must not come back
			dt.s.settle(rid)
			old = pos
		}
		dt.s.log.Release(old)
		dt.s.copied.Add(1)
		if live {
			dt.copyAttempts(rid, x.seq)
		}
	}
	if !dt.copyMark(below) {
		return false
	}
	for _, g := range groups {
		pos, err := dt.s.log.Append(recGroup, appendGroup(nil, g.rid, dt.t.name, g.name, g.start))
		if err != nil {
			return false
		}
		dt.mu.Lock()
		old := g.pos
		g.pos = pos
		dt.mu.Unlock()
		dt.s.log.Release(old)
		dt.s.copied.Add(1)
	}
	return true
}

// copyAttempts notes again the deliveries of seq to groups, after its
// record was copied: the notes before the copy may go with their segment.
func (dt *durableTopic) copyAttempts(rid, seq uint64) {
	type note struct {
		group   string
		attempt int32
		due     int64
	}
	var notes []note
	dt.mu.Lock()
	for name := range dt.groups {
		k := groupSeq{name, seq}
		if a, ok := dt.attempts[k]; ok {
			notes = append(notes, note{name, a, dt.dues[k]})
		}
	}
	dt.mu.Unlock()
	for _, n := range notes {
		typ := recGDeliver
		if n.due != 0 {
			typ = recGNack
		}
		dt.s.log.AppendNoWait(typ, appendGroupMark(nil, rid, n.attempt, n.due, n.group))
	}
}
