package herald

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/match"
)

// PatternSubscription reads every topic whose name matches a pattern,
// those declared now and those declared later, each through a
// [Subscription] of its own. Make one with [Broker.SubscribePattern]; it
// is safe for concurrent use.
type PatternSubscription struct {
	b       *Broker
	pattern string
	opts    []SubscribeOption

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	out    chan patternItem
	wg     sync.WaitGroup

	mu     sync.Mutex
	subs   map[*Topic]*Subscription // guarded by mu
	closed bool
}

type patternItem struct {
	d   *Delivery
	err error // a *LagError
}

// patternSubs are a broker's pattern subscriptions, copy-on-write.
type patternSubs struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*PatternSubscription]
}

// SubscribePattern subscribes to every topic whose name matches pattern,
// with the rules of a topic exchange's binding keys: names are words
// separated by '.', "*" matches exactly one word and "#" zero or more, so
// "orders.*" matches "orders.eu" and "audit.#" matches "audit" and
// "audit.login.failed". Topics declared later that match are subscribed to
// as they are declared.
//
// Each matching topic gets a subscription of its own, made with opts (so
// FromEarliest, FromSequence, FromTime, WithGroup and the redelivery
// options apply per topic), and keeps its own order: the deliveries of one
// topic come in its publish order, those of different topics interleave.
// [Delivery.Source] names the topic a delivery came from, and Seq is its
// sequence number in that topic.
//
// This is the subscriber's side of what a topic exchange does on the
// publisher's: an exchange routes one publish to the destinations whose
// patterns match its key; a pattern subscription reads the topics whose
// names match, each of which keeps its own retained log to replay.
//
// It returns an error wrapping ErrInvalid for a malformed pattern or a
// bad option (checked against the topics that match now), and ErrClosed
// after Close.
func (b *Broker) SubscribePattern(pattern string, opts ...SubscribeOption) (*PatternSubscription, error) {
	if err := match.ValidatePattern(pattern); err != nil {
		return nil, because(ErrInvalid, err, "subscribe pattern %q", pattern)
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	ps := &PatternSubscription{b: b, pattern: pattern, opts: opts, out: make(chan patternItem), subs: map[*Topic]*Subscription{}}
	ps.ctx, ps.cancel = context.WithCancel(b.ctx)
	b.patterns.add(ps)
	for _, name := range b.Names() {
		if !match.MatchPattern(pattern, name) {
			continue
		}
		if t, err := b.LookupTopic(name); err == nil {
			if err := ps.follow(t); err != nil {
				ps.Close()
				return nil, err
			}
		}
	}
	return ps, nil
}

// Topics returns the names of the topics the subscription reads.
func (ps *PatternSubscription) Topics() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	names := make([]string, 0, len(ps.subs))
	for t := range ps.subs {
		names = append(names, t.name)
	}
	return names
}

// follow subscribes to t, unless ps already reads it, and forwards its
// deliveries.
func (ps *PatternSubscription) follow(t *Topic) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed || ps.subs[t] != nil {
		return nil
	}
	s, err := t.Subscribe(ps.opts...)
	if err != nil {
		return fmt.Errorf("subscribe pattern %q: %w", ps.pattern, err)
	}
	ps.subs[t] = s
	ps.wg.Add(1)
	go pprof.Do(ps.ctx, ps.b.labels, func(ctx context.Context) {
		defer ps.wg.Done()
		ps.forward(ctx, s)
	})
	return nil
}

// forward hands s's deliveries out, one at a time so that the topic's
// order holds, until ps or the broker closes. A delivery it holds when
// that happens is released, its attempt not counted.
func (ps *PatternSubscription) forward(ctx context.Context, s *Subscription) {
	for {
		d, err := s.Receive(ctx)
		var item patternItem
		switch lag, ok := err.(*LagError); {
		case ok:
			item.err = lag
		case err != nil:
			return
		default:
			item.d = d
		}
		select {
		case ps.out <- item:
		case <-ctx.Done():
			if d != nil {
				d.Release()
			}
			return
		}
	}
}

// Receive waits for the next delivery from any of the topics and hands it
// to the caller, who settles it. It blocks until one comes, ctx ends
// (returning ctx.Err()), or the subscription or the broker closes (an
// error wrapping ErrClosed). When a topic's subscription lagged, it
// returns that *LagError once.
func (ps *PatternSubscription) Receive(ctx context.Context) (*Delivery, error) {
	if ctx == nil {
		return nil, invalidf("nil context")
	}
	select {
	case item := <-ps.out:
		if item.err != nil {
			return nil, item.err
		}
		return item.d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ps.ctx.Done():
		if ps.b.closed.Load() {
			return nil, ErrClosed
		}
		return nil, errSubscriptionClosed
	}
}

// Consume runs h on the deliveries of every topic with the semantics of
// [Queue.Consume] (nil acks, an error nacks, a [Permanent] error rejects,
// a panic counts as an error) and [WithConcurrency] handler goroutines.
// With concurrency 1, h sees each topic's messages in its order. It blocks
// until ctx ends (ctx.Err()) or the subscription or broker closes (an
// error wrapping ErrClosed); a lag shows as the next delivery's Missed.
// WithKeyOrdering and WithPrefetch are not supported here: Consume
// returns an error wrapping ErrInvalid.
func (ps *PatternSubscription) Consume(ctx context.Context, h Handler, opts ...ConsumeOption) error {
	cfg, err := consumeOptions(ctx, h, opts)
	if err != nil {
		return err
	}
	if cfg.keyOrder || cfg.prefetch != 0 {
		return invalidf("subscribe pattern %q: WithKeyOrdering and WithPrefetch apply to one queue or subscription", ps.pattern)
	}
	if h, err = ps.b.wrapHandler(h, cfg.middleware); err != nil {
		return err
	}
	hctx := context.WithValue(ctx, handlerContextKey{}, ps.b)
	errs := make([]error, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range cfg.concurrency {
		wg.Go(func() {
			var missed uint64
			for {
				d, err := ps.Receive(ctx)
				if lag, ok := err.(*LagError); ok {
					missed += lag.Missed
					continue
				}
				if err != nil {
					errs[i] = err
					return
				}
				d.Missed, missed = missed, 0
				ps.b.observeDeliver(hctx, d, true)
				err = ps.b.call(hctx, h, d)
				settleByResult(d, err)
			}
		})
	}
	wg.Wait()
	return errs[0]
}

// Close ends the subscription: it closes the subscription of every topic
// it reads (a held delivery not yet handed out is released first, and
// then counted as dropped by that topic's subscription, as Close drops a
// subscription's pending redeliveries), stops following new topics, and
// wakes its Receive calls with an error wrapping ErrClosed. It waits for
// its own goroutines to return. Close is idempotent and returns nil.
func (ps *PatternSubscription) Close() error {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil
	}
	ps.closed = true
	subs := ps.subs
	ps.mu.Unlock()
	ps.b.patterns.remove(ps)
	ps.cancel()
	ps.wg.Wait()
	for _, s := range subs {
		s.Close()
	}
	return nil
}

func (p *patternSubs) add(ps *PatternSubscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []*PatternSubscription
	if cur := p.list.Load(); cur != nil {
		list = append(list, *cur...)
	}
	list = append(list, ps)
	p.list.Store(&list)
}

func (p *patternSubs) remove(ps *PatternSubscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.list.Load()
	if cur == nil {
		return
	}
	var list []*PatternSubscription
	for _, x := range *cur {
		if x != ps {
			list = append(list, x)
		}
	}
	p.list.Store(&list)
}

// declared subscribes the pattern subscriptions that match t to it: called
// after every declaration of a topic, new or not (it does nothing for one
// already followed).
func (p *patternSubs) declared(b *Broker, t *Topic) {
	cur := p.list.Load()
	if cur == nil {
		return
	}
	for _, ps := range *cur {
		if match.MatchPattern(ps.pattern, t.name) {
			if err := ps.follow(t); err != nil {
				b.log(slog.LevelWarn, "pattern subscription cannot follow a new topic", "pattern", ps.pattern, "topic", t.name, "error", err)
			}
		}
	}
}
