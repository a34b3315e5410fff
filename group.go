package herald

import (
	"context"
	"fmt"
	"sync/atomic"
)

// A subscription group ([WithGroup]) is a queue the topic feeds: each
// publish puts the message into every group's queue, and the group's
// members share it, each message handled by one member with the queue's
// acks, redelivery and dead letters. The group's capacity is the ring's,
// and its overflow policy the topic's.

type group struct {
	name    string
	cfg     redeliveryConfig
	q       *Queue
	members atomic.Int32 // subscriptions in the group not closed
}

// groupStats are a group's stats, from its queue's.
func groupStats(q QueueStats) SubscriptionStats {
	return SubscriptionStats{
		Delivered: q.Delivered, Acked: q.Acked, Nacked: q.Nacked, Rejected: q.Rejected,
		Expired: q.Expired, Dropped: q.Dropped, DeadLettered: q.DeadLettered,
		DeadLetterFailed: q.DeadLetterFailed, Lag: uint64(q.Ready), Unacked: q.Unacked, Delayed: q.Delayed,
		Consumers: q.Consumers,
	}
}

func (t *Topic) groupFull(g *group) error {
	return fmt.Errorf("%w: topic %q: group %q holds %d messages", ErrFull, t.name, g.name, t.size())
}

// groupWithoutRoom returns a group whose queue is full; wmu held, so no
// publish can fill one meanwhile.
func (t *Topic) groupWithoutRoom() *group {
	for _, g := range *t.groups.Load() {
		if !g.q.hasRoom() {
			return g
		}
	}
	return nil
}

// joinGroup returns a member of the group cfg names, creating the group,
// and filling it with the retained messages cfg asks for, if it is new.
func (t *Topic) joinGroup(cfg *subscribeConfig) (*Subscription, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.openLocked(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	g := t.groupNames[cfg.group]
	t.mu.Unlock()
	if g != nil && g.cfg != cfg.redeliveryConfig {
		return nil, fmt.Errorf("%w: group %q of topic %q with other redelivery options", ErrExists, cfg.group, t.name)
	}
	if g == nil {
		qcfg := queueConfig{queueSettings: queueSettings{capacity: int(t.size()), overflow: t.cfg.overflow, redeliveryConfig: cfg.redeliveryConfig}}
		g = &group{name: cfg.group, cfg: cfg.redeliveryConfig, q: newQueue(t.b, t.name+"/"+cfg.group, qcfg)}
		g.q.ends.where = Place{Name: t.name, Kind: "topic", Group: cfg.group}
		if t.dur != nil {
			t.dur.joinGroup(g, cfg) // see durable_topic.go
		} else {
			t.backfillLocked(g, cfg, nil)
		}
		t.mu.Lock()
		t.groupNames[cfg.group] = g
		t.mu.Unlock()
		groups := append(append([]*group(nil), *t.groups.Load()...), g)
		t.groups.Store(&groups)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.members.Add(1)
	m := &groupMember{b: t.b, transform: cfg.transform, group: g, member: ctx, leave: cancel}
	return &Subscription{t: t, cfg: *cfg, r: m}, nil
}

// backfillLocked gives a new group the retained messages cfg asks for,
// calling got (if not nil) with the sequence number of each; wmu held.
func (t *Topic) backfillLocked(g *group, cfg *subscribeConfig, got func(seq uint64)) {
	now := int64(-1)
	for c, tail := max(t.startCursorLocked(cfg), t.oldest()), t.tail.Load(); c < tail; c++ {
		// Those that expired before the group was made never were its.
		if m, at, ok := t.read(c); ok && !t.expired(m, at, &now) {
			if g.q.putSeq(context.Background(), m, c, true) == nil && got != nil { // fits: the group's capacity is the ring's
				got(c)
			}
		}
	}
}

// groupMember is a group member's reader (see subReader): it takes its
// deliveries from the group's queue, which it shares with the other
// members.
type groupMember struct {
	b         *Broker
	transform Transform
	group     *group
	member    context.Context // cancelled by Close
	leave     context.CancelFunc
	left      atomic.Bool
}

func (s *groupMember) stats() SubscriptionStats {
	return groupStats(s.group.q.Stats())
}

func (s *groupMember) receive(ctx context.Context) (*Delivery, error) {
	if s.member.Err() != nil {
		return nil, errSubscriptionClosed
	}
	ctx, cancel := s.memberContext(ctx)
	defer cancel()
	for {
		d, err := s.group.q.Receive(ctx)
		if err != nil {
			return nil, s.memberErr(err)
		}
		if s.transform == nil || s.b.transformDelivery(s.transform, d) {
			return d, nil
		}
	}
}

func (s *groupMember) consume(ctx context.Context, h Handler, opts []ConsumeOption) error {
	if ctx == nil {
		return invalidf("nil context")
	}
	if s.member.Err() != nil {
		return errSubscriptionClosed
	}
	mctx, cancel := s.memberContext(ctx)
	defer cancel()
	if fn := s.transform; fn != nil && h != nil {
		inner := h
		h = func(ctx context.Context, d *Delivery) error {
			if !s.b.transformDelivery(fn, d) {
				return nil // rejected, and so settled
			}
			return inner(ctx, d)
		}
	}
	err := s.group.q.Consume(mctx, h, opts...)
	if ctx.Err() == nil && s.member.Err() != nil {
		return errSubscriptionClosed
	}
	return err
}

// all is a group member's All loop: it takes each delivery from receive.
func (s *groupMember) all(ctx context.Context, yield func(*Delivery) bool) {
	for {
		d, err := s.receive(ctx)
		if err != nil {
			return
		}
		more := yield(d)
		if d.settled() == settledNone {
			d.Ack()
		}
		if !more {
			return
		}
	}
}

// close leaves the group, which keeps its messages for the other members.
func (s *groupMember) close() error {
	if !s.left.Swap(true) {
		s.group.members.Add(-1)
	}
	s.leave()
	return nil
}

// memberContext is ctx, also cancelled when the member leaves.
func (s *groupMember) memberContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.member, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *groupMember) memberErr(err error) error {
	if err != nil && s.member.Err() != nil {
		return errSubscriptionClosed
	}
	return err
}
