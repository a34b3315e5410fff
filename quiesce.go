package herald

import (
	"context"
)

// WaitIdle blocks until every queue and topic of the broker is idle: no
// message ready, unacked, backing off or being dead-lettered, and every
// subscription has read all there is. A handler settles only after it
// returns, so by then no handler is running either, and a flow of several
// hops has run to its end. It returns nil then, ctx.Err() if ctx ends
// first, or ErrClosed if the broker closes.
//
// WaitIdle is for tests (see package heraldtest): publish, WaitIdle,
// assert. It cannot see publishes that have not started, so call it after
// the publishes it should wait for have returned. Messages that no
// consumer takes keep it waiting until ctx ends. It costs nothing while
// nobody waits.
func (b *Broker) WaitIdle(ctx context.Context) error {
	if ctx == nil {
		return invalidf("nil context")
	}
	b.watchers.Add(1)
	defer b.watchers.Add(-1)
	for {
		quiet := b.quietChan()
		if b.closed.Load() {
			return ErrClosed
		}
		if b.quiescent() {
			return nil
		}
		select {
		case <-quiet:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// quiescent reports whether every queue and topic is idle, looking twice:
// a message can only land in one already seen idle through a put, which
// changes its activity count, so two looks that agree on all-idle and on
// every count saw a moment when all was idle.
func (b *Broker) quiescent() bool {
	ds := b.drainers()
	counts := make([]uint64, len(ds))
	for i, d := range ds {
		if !d.idle() {
			return false
		}
		counts[i] = d.activity()
	}
	for i, d := range ds {
		if !d.idle() || d.activity() != counts[i] {
			return false
		}
	}
	return true
}

// settledEverywhere reports whether every queue and topic is drained (see
// drain.go). A message can only land in one already seen drained through a
// put, so the answer holds if no put was in flight when it started looking
// and none started while it looked.
func (b *Broker) settledEverywhere(ds []drainer) bool {
	started := b.putsStarted.Load()
	if b.putsDone.Load() != started {
		return false
	}
	for _, d := range ds {
		if !d.drained() {
			return false
		}
	}
	return b.putsStarted.Load() == started
}

// quietChan returns the channel the next signalQuiet closes. Take it
// before looking at the state it signals changes of, so a change between
// the look and the wait is not missed.
func (b *Broker) quietChan() chan struct{} {
	b.quietMu.Lock()
	defer b.quietMu.Unlock()
	return b.quiet
}

func (b *Broker) awaitQuiet(ctx context.Context, quiet chan struct{}) error {
	select {
	case <-quiet:
		return nil
	case <-ctx.Done():
		b.Close()
		return ctx.Err()
	}
}

// signalQuiet wakes Shutdown and WaitIdle to look again.
func (b *Broker) signalQuiet() {
	b.quietMu.Lock()
	close(b.quiet)
	b.quiet = make(chan struct{})
	b.quietMu.Unlock()
}

// noteSettled is called after every settle; while Shutdown or WaitIdle
// waits, it wakes them when the queue or topic is what they wait for.
func (b *Broker) noteSettled(d drainer) {
	switch {
	case b.draining.Load() && d.drained(), b.watchers.Load() > 0 && d.idle():
		b.signalQuiet()
	}
}
