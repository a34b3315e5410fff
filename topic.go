package herald

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/ring"
)

// Topic is publish-subscribe: every subscription receives every message
// published after it subscribed, in publish order, or from an earlier
// retained position it asks for. Declare one with [Broker.Topic]; it is safe
// for concurrent use.
//
// A topic is a ring-buffer log: a publish writes the message once, into one
// slot, whatever the number of subscriptions, and each subscription reads
// with its own cursor. The ring retains the last WithCapacity messages for
// replay. When the slowest subscription is a whole ring behind, the
// overflow policy decides: OverflowBlock (the default) makes the publisher
// wait, OverflowDropOldest lets the subscription lag and tells it how many
// messages it missed.
//
// Subscription groups ([WithGroup]) share one stream among their members,
// each message handled by one member with a queue's acks, redelivery and
// dead letters; each group costs a publish one queue put.
type Topic struct {
	b     *Broker
	name  string
	cfg   topicConfig
	mask  uint64
	slots []slot

	wmu        sync.Mutex    // serialises publishers
	tail       atomic.Uint64 // the sequence number the next publish gets; the first is 1
	gate       uint64        // guarded by wmu: no subscription's cursor is below it
	published  uint64        // guarded by wmu
	dropped    uint64        // guarded by wmu: publishes dropped by OverflowDropNewest
	duplicates uint64        // guarded by wmu
	dedup      *dedupWindow  // guarded by wmu; nil without WithDedup

	subs   atomic.Pointer[[]*Subscription] // plain subscriptions, copy-on-write
	groups atomic.Pointer[[]*group]        // copy-on-write; changed under wmu
	// feeding counts the publishes between the ring and their groups:
	// raised under wmu, so that Shutdown, which looks under wmu, sees a
	// publish that the ring took before draining began (see drained).
	feeding atomic.Int64
	dur     *durableTopic // a Durable topic's log; see durable_topic.go

	mu         sync.Mutex         // guards the lists below and groupByName
	readers    ring.Ring[*waiter] // parked subscription readers
	writers    ring.Ring[*waiter] // parked publishers (OverflowBlock)
	parked     atomic.Int32       // readers.Len(), readable without mu
	blocking   atomic.Pointer[Subscription]
	need       atomic.Uint64 // the cursor blocking must reach to free a slot
	closed     atomic.Bool
	groupNames map[string]*group
}

// slot holds one message of the ring. seq is 0 while a publisher rewrites
// the slot, so a reader that sees the same seq before and after loading m
// knows m belongs to it.
type slot struct {
	seq atomic.Uint64
	m   atomic.Pointer[Message]
	at  atomic.Int64 // broker clock at publish, kept only with a max age or a TTL
}

// TopicStats is a snapshot of a topic's counters.
type TopicStats struct {
	Published     uint64 // messages written to the ring
	Dropped       uint64 // publishes dropped by OverflowDropNewest
	Duplicates    uint64 // publishes refused with ErrDuplicate
	Retained      int    // messages in the ring (a replay skips those past the max age)
	Subscriptions int    // plain subscriptions
	Groups        int    // subscription groups
	Subscribers   int    // open subscriptions: the plain ones and every group's members
}

func newTopic(b *Broker, name string, cfg topicConfig) *Topic {
	size := uint64(1)
	for size < uint64(cfg.capacity) {
		size <<= 1
	}
	t := &Topic{b: b, name: name, cfg: cfg, mask: size - 1, slots: make([]slot, size)}
	t.tail.Store(1)
	t.gate = 1
	t.subs.Store(&[]*Subscription{})
	t.groups.Store(&[]*group{})
	t.groupNames = map[string]*group{}
	if cfg.dedup > 0 {
		t.dedup = newDedupWindow(int64(cfg.dedup))
	}
	return t
}

// Topic declares the topic called name and returns it. Declaring a name
// again with the same options returns the same topic; with other options,
// or a name used by another kind, it returns an error wrapping ErrExists.
// Bad names and options return errors wrapping ErrInvalid, and a closed
// broker ErrClosed.
func (b *Broker) Topic(name string, opts ...TopicOption) (*Topic, error) {
	cfg := defaultTopicConfig()
	if err := configure("topic", name, opts, &cfg, TopicOption.applyTopic); err != nil {
		return nil, err
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	t, err := declare(b, name,
		func(t *Topic) error {
			if t.cfg != cfg {
				return fmt.Errorf("%w: topic %q with other options", ErrExists, name)
			}
			return nil
		},
		func() (*Topic, error) { return b.makeTopic(name, cfg) })
	if err == nil {
		b.patterns.declared(b, t) // see pattern.go
	}
	return t, err
}

func (t *Topic) kind() string { return "topic" }

// Name returns the name the topic was declared with.
func (t *Topic) Name() string { return t.name }

// size is the ring's length: how many messages the topic retains.
func (t *Topic) size() uint64 { return t.mask + 1 }

// Stats returns a snapshot of the topic's counters.
func (t *Topic) Stats() TopicStats {
	t.wmu.Lock()
	s := TopicStats{
		Published:     t.published,
		Dropped:       t.dropped,
		Duplicates:    t.duplicates,
		Retained:      int(min(t.published, t.size())),
		Subscriptions: len(*t.subs.Load()),
		Groups:        len(*t.groups.Load()),
	}
	s.Subscribers = s.Subscriptions
	for _, g := range *t.groups.Load() {
		s.Subscribers += int(g.members.Load())
	}
	t.wmu.Unlock()
	return s
}

// Publish writes m to the topic, assigning m.ID and m.Time when empty, and
// hands it to every group. When the slowest subscription is a whole ring
// behind, the topic's [Overflow] policy applies: with OverflowBlock,
// Publish waits until that subscription reads on, ctx ends (returning
// ctx.Err()) or the broker closes. It returns ErrClosed after Close or once
// Shutdown has begun, and ErrInvalid for a nil message or context.
//
// m.TTL applies: a subscription skips a message whose TTL has passed since
// this publish (counted in its Stats().Expired), and a group expires it as
// a queue does. m.Delay does not: a topic is a log in publish order, so a
// message with a Delay is refused with an error wrapping ErrInvalid;
// publish delayed messages to a queue. A negative TTL or Delay is
// ErrInvalid too.
func (t *Topic) Publish(ctx context.Context, m *Message) error {
	if err := t.b.checkPublish(ctx, m); err != nil {
		return err
	}
	return t.b.publishTo(ctx, t, m)
}

func (t *Topic) put(ctx context.Context, m *Message, internal bool) error {
	if m.Delay > 0 {
		return invalidf("topic %q: a topic is a log in publish order and takes no delayed message (Delay %v); publish it to a queue", t.name, m.Delay)
	}
	if t.b.beginPut() {
		defer t.b.endPut(true)
	}
	var body storedBody // a Durable topic's: encoded before the ring has m
	if t.dur != nil {
		if !t.dur.s.puts.enter() { // Close waits for it: see durable_topic.go
			return ErrClosed
		}
		defer t.dur.s.puts.exit()
		var err error
		if body, err = t.dur.encode(m); err != nil {
			return fmt.Errorf("topic %q: %w", t.name, err)
		}
	}
	groups, seq, err := t.append(ctx, m, internal)
	if err != nil {
		return err
	}
	if len(groups) > 0 {
		defer t.fedGroups()
	}
	if t.dur != nil && seq != 0 {
		if err := t.dur.logPublish(m, body, seq, len(groups)); err != nil {
			return fmt.Errorf("topic %q: %w", t.name, err)
		}
	}
	var errs []error
	for _, g := range groups {
		var err error
		if t.cfg.overflow == OverflowBlock || t.cfg.overflow == OverflowReject {
			// append saw room in every group; a redelivery coming due since
			// may have taken it, and must not turn into an error now.
			err = g.q.putForced(m, seq)
		} else {
			err = g.q.putSeq(ctx, m, seq, true) // the drop policies make room
		}
		if err != nil && t.dur != nil {
			err = t.dur.groupRefused(seq, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", g.name, err))
		}
	}
	return errors.Join(errs...)
}

// append writes m to the ring and returns the groups it must also go to:
// read under the same lock, so that a group created meanwhile gets each
// message exactly once, from its backfill or from here.
func (t *Topic) append(ctx context.Context, m *Message, internal bool) ([]*group, uint64, error) {
	var w *waiter
	defer func() {
		if w != nil {
			t.b.putWaiter(w)
		}
	}()
	t.wmu.Lock()
	for {
		if t.closed.Load() || (!internal && t.b.draining.Load() && !t.b.fromHandler(ctx)) {
			t.wmu.Unlock()
			return nil, 0, ErrClosed
		}
		if t.dedup != nil && t.dedup.contains(m.ID, t.b.clock()) {
			t.duplicates++
			t.wmu.Unlock()
			return nil, 0, fmt.Errorf("%w: ID %q in topic %q", ErrDuplicate, m.ID, t.name)
		}
		// A group without room must hold the publish back before the ring
		// takes it, or an error would come with a message delivered.
		if g := t.groupWithoutRoom(); g != nil {
			switch t.cfg.overflow {
			case OverflowReject:
				t.wmu.Unlock()
				return nil, 0, t.groupFull(g)
			case OverflowBlock:
				t.wmu.Unlock()
				if internal {
					return nil, 0, t.groupFull(g)
				}
				if w == nil {
					w = t.b.getWaiter()
				}
				if err := g.q.awaitRoom(ctx, w); err != nil {
					return nil, 0, err
				}
				t.wmu.Lock()
				continue
			}
			// The drop policies make room in the group's own queue.
		}
		seq := t.tail.Load()
		if !t.fullLocked(seq) {
			break
		}
		switch t.cfg.overflow {
		case OverflowDropOldest:
		case OverflowReject:
			t.wmu.Unlock()
			return nil, 0, t.ringFull()
		case OverflowDropNewest:
			t.dropped++
			t.rememberLocked(m)
			t.wmu.Unlock()
			t.observeDropped(m)
			return nil, 0, nil
		default: // OverflowBlock
			if internal {
				t.wmu.Unlock()
				return nil, 0, t.ringFull()
			}
			if w == nil {
				w = t.b.getWaiter()
			}
			if err := t.awaitRoom(ctx, w, seq); err != nil {
				return nil, 0, err
			}
			t.wmu.Lock()
			continue
		}
		break
	}
	seq := t.tail.Load()
	s := &t.slots[seq&t.mask]
	s.seq.Store(0)
	s.m.Store(m)
	if t.keepsTime(m) {
		s.at.Store(t.b.clock())
	}
	s.seq.Store(seq)
	t.tail.Store(seq + 1)
	t.published++
	t.rememberLocked(m)
	groups := *t.groups.Load()
	if len(groups) > 0 {
		t.feeding.Add(1) // put calls fedGroups
	}
	t.wmu.Unlock()
	if t.parked.Load() > 0 {
		t.wakeReaders()
	}
	return groups, seq, nil
}

// fedGroups notes that a publish has reached its groups (or failed to),
// and wakes Shutdown, which may be waiting for it: a group put counted by
// no beginPut changes nothing Shutdown hears of.
func (t *Topic) fedGroups() {
	if t.feeding.Add(-1) == 0 && t.b.draining.Load() {
		t.b.signalQuiet()
	}
}

// rememberLocked notes m's ID for deduplication; wmu held.
func (t *Topic) rememberLocked(m *Message) {
	if t.dedup != nil {
		t.dedup.add(m.ID, t.b.clock())
	}
}

func (t *Topic) ringFull() error {
	return fmt.Errorf("%w: topic %q: a subscription is %d messages behind", ErrFull, t.name, t.size())
}

// fullLocked reports whether writing seq would overwrite a message some
// subscription has not read. It rescans the cursors only when the cached
// gate says so, so a publish does not cost more with more subscriptions.
func (t *Topic) fullLocked(seq uint64) bool {
	if seq <= t.size() || seq-t.size() < t.gate {
		return false
	}
	t.gate, _ = t.slowest(seq)
	return seq-t.size() >= t.gate
}

// slowest returns the lowest cursor among the subscriptions, and whose it
// is; seq and nil when there are none.
func (t *Topic) slowest(seq uint64) (uint64, *Subscription) {
	low, who := seq, (*Subscription)(nil)
	for _, s := range *t.subs.Load() {
		if c := s.cursor.Load(); c < low {
			low, who = c, s
		}
	}
	return low, who
}

// awaitRoom parks a publisher, with wmu held on entry and released on
// return, until the slowest subscription has read the message in the slot
// seq needs and a quarter of the ring after it. It returns ctx.Err() or ErrClosed if those come first.
func (t *Topic) awaitRoom(ctx context.Context, w *waiter, seq uint64) error {
	_, who := t.slowest(seq)
	t.mu.Lock()
	t.writers.PushBack(w)
	w.parked = true
	// Wait for a quarter of the ring to free up, not one slot: a publisher
	// woken for every slot would rescan every cursor on every publish.
	need := seq - t.size() + 1 + t.size()/4
	t.need.Store(need)
	t.blocking.Store(who)
	t.mu.Unlock()
	t.wmu.Unlock()
	// The subscription may have moved or gone since slowest looked.
	if who == nil || who.cursor.Load() >= need || who.closed.Load() {
		t.wakeWriters()
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		t.unpark(w, &t.writers, false)
		return ctx.Err()
	}
}

// read returns the message with sequence number seq, or false if its slot
// has been overwritten since.
func (t *Topic) read(seq uint64) (*Message, int64, bool) {
	s := &t.slots[seq&t.mask]
	if s.seq.Load() != seq {
		return nil, 0, false
	}
	m, at := s.m.Load(), s.at.Load()
	if s.seq.Load() != seq {
		return nil, 0, false
	}
	return m, at, true
}

// oldest returns the sequence number of the oldest retained message.
func (t *Topic) oldest() uint64 {
	tail := t.tail.Load()
	if tail <= t.size() {
		return 1
	}
	return tail - t.size()
}

func (t *Topic) wakeReaders() {
	t.mu.Lock()
	for t.readers.Len() > 0 {
		w, _ := t.readers.PopFront()
		w.wake()
	}
	t.parked.Store(0)
	t.mu.Unlock()
}

func (t *Topic) wakeWriters() {
	t.mu.Lock()
	for t.writers.Len() > 0 {
		w, _ := t.writers.PopFront()
		w.wake()
	}
	t.blocking.Store(nil)
	t.mu.Unlock()
}

// moved is called by a subscription that advanced its cursor to c: if a
// publisher waits for it, it may now have room.
func (t *Topic) moved(s *Subscription, c uint64) {
	if t.blocking.Load() == s && c >= t.need.Load() {
		t.wakeWriters()
	}
}

// unpark takes w off list if it is still there; if it was woken meanwhile,
// the wake-up is passed on so that it is not lost.
func (t *Topic) unpark(w *waiter, list *ring.Ring[*waiter], reader bool) {
	t.mu.Lock()
	if w.parked {
		w.unlist(list)
		if reader {
			t.parked.Add(-1)
		}
		t.mu.Unlock()
	} else {
		t.mu.Unlock()
		if !reader {
			t.wakeWriters() // another publisher may use the room
		}
	}
	w.drain()
}

// startCursorLocked returns where a subscription with cfg starts; wmu held.
func (t *Topic) startCursorLocked(cfg *subscribeConfig) uint64 {
	tail, oldest := t.tail.Load(), t.oldest()
	switch cfg.start {
	case startEarliest:
		return t.skipAgedLocked(oldest)
	case startSeq:
		return max(cfg.seq, 1) // below oldest: the first read reports the lag
	case startTime:
		n := int(tail - oldest)
		i := sort.Search(n, func(i int) bool {
			m, _, _ := t.read(oldest + uint64(i))
			return m != nil && !m.Time.Before(cfg.time)
		})
		return t.skipAgedLocked(oldest + uint64(i))
	}
	return tail
}

// skipAgedLocked moves a replay's start past messages older than the max age.
func (t *Topic) skipAgedLocked(c uint64) uint64 {
	if t.cfg.maxAge <= 0 {
		return c
	}
	limit := t.b.clock() - int64(t.cfg.maxAge)
	for tail := t.tail.Load(); c < tail; c++ {
		if _, at, ok := t.read(c); ok && at >= limit {
			break
		}
	}
	return c
}

// Subscribe adds a subscription to the topic. By default it receives what
// is published from now on; [FromEarliest], [FromSequence] and [FromTime]
// start it earlier, within what the topic retains. With [WithGroup] it
// joins (or creates) a subscription group. [WithMaxDeliveries],
// [WithDeadLetter] and [WithBackoff] set how its nacked deliveries are
// retried. It returns ErrClosed after Close or once Shutdown has begun, an
// error wrapping ErrInvalid for bad options, and one wrapping ErrExists
// when joining a group with other redelivery options than the group's.
//
// A subscription holds the topic's publishers back (under OverflowBlock)
// until it is closed: Close subscriptions you no longer read.
func (t *Topic) Subscribe(opts ...SubscribeOption) (*Subscription, error) {
	cfg := subscribeConfig{redeliveryConfig: defaultRedelivery()}
	for _, o := range opts {
		if o == nil {
			return nil, invalidf("topic %q: nil subscribe option", t.name)
		}
		o.applySubscribe(&cfg)
	}
	if err := cfg.validate(t.name); err != nil {
		return nil, err
	}
	if cfg.group != "" {
		return t.joinGroup(&cfg)
	}
	s := &Subscription{t: t, cfg: cfg}
	s.r = (*cursorReader)(s)
	s.ends = newEndings(t.b, t.name, cfg.redeliveryConfig)
	s.ends.where.Kind = "topic"
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.openLocked(); err != nil {
		return nil, err
	}
	c := t.startCursorLocked(&cfg)
	s.cursor.Store(c)
	s.start = c
	t.gate = min(t.gate, c)
	t.mu.Lock()
	subs := append(append([]*Subscription(nil), *t.subs.Load()...), s)
	t.subs.Store(&subs)
	t.mu.Unlock()
	return s, nil
}

func (t *Topic) openLocked() error {
	if t.closed.Load() || t.b.draining.Load() {
		return ErrClosed
	}
	return nil
}

func (t *Topic) removeSub(s *Subscription) {
	t.mu.Lock()
	old := *t.subs.Load()
	subs := make([]*Subscription, 0, len(old))
	for _, x := range old {
		if x != s {
			subs = append(subs, x)
		}
	}
	t.subs.Store(&subs)
	t.mu.Unlock()
	if t.blocking.Load() == s {
		t.wakeWriters()
	}
}

func (t *Topic) idle() bool {
	for _, s := range *t.subs.Load() {
		if !s.idle() {
			return false
		}
	}
	for _, g := range *t.groups.Load() {
		if !g.q.idle() {
			return false
		}
	}
	return true
}

func (t *Topic) activity() uint64 {
	t.wmu.Lock()
	n := t.published
	t.wmu.Unlock()
	for _, g := range *t.groups.Load() {
		n += g.q.activity()
	}
	return n
}

func (t *Topic) wakeAll() {
	t.wakeReaders()
	t.wakeWriters()
	for _, g := range *t.groups.Load() {
		g.q.wakeAll()
	}
}

func (t *Topic) close() {
	t.closed.Store(true)
	t.wakeAll()
	for _, g := range *t.groups.Load() {
		g.q.close()
	}
}
