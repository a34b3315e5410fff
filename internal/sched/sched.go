// Package sched runs callbacks at given times: one goroutine and one timer
// for any number of pending items, so that a broker with a hundred thousand
// back-offs or delays pays a heap entry for each, not a goroutine or a
// timer.
//
// The goroutine starts with the first item and parks on a channel and a
// time.Timer, so an idle scheduler burns no CPU and works inside
// testing/synctest bubbles.
package sched

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"
)

// Scheduler calls fire(v) for every v scheduled with At, at or after its due
// time, in due order (FIFO among equal times), from its own goroutine and
// never while holding its lock, so fire may call At.
type Scheduler[T any] struct {
	fire   func(T)
	labels context.Context // pprof labels for the goroutine; nil: the starter's

	mu      sync.Mutex
	heap    []item[T]
	seq     uint64
	running bool
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	exited  chan struct{}
}

type item[T any] struct {
	due time.Time
	seq uint64
	v   T
}

func (a *item[T]) before(b *item[T]) bool {
	if a.due.Equal(b.due) {
		return a.seq < b.seq
	}
	return a.due.Before(b.due)
}

// New returns a scheduler that calls fire for each due item.
func New[T any](fire func(T)) *Scheduler[T] {
	return &Scheduler[T]{
		fire:   fire,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
}

// SetLabels makes the scheduler's goroutine carry ctx's pprof labels (see
// runtime/pprof.SetGoroutineLabels) rather than those of the goroutine
// whose At starts it. Call it before the first At.
func (s *Scheduler[T]) SetLabels(ctx context.Context) { s.labels = ctx }

// At schedules v for due. It reports false, and drops v, after Close.
func (s *Scheduler[T]) At(due time.Time, v T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.seq++
	s.push(item[T]{due: due, seq: s.seq, v: v})
	if !s.running {
		s.running = true
		go s.run()
	} else if s.heap[0].seq == s.seq {
		// The new item is the earliest: the goroutine must re-arm.
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Len returns the number of items waiting.
func (s *Scheduler[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// Close stops the scheduler, discards what is pending and waits for its
// goroutine, including a fire in progress, to return. Close is idempotent.
// It must not be called from fire, which it would wait for: use Stop.
func (s *Scheduler[T]) Close() {
	if s.Stop() {
		<-s.exited
	}
}

// Stop stops the scheduler and discards what is pending, like Close, but
// does not wait for its goroutine: a fire in progress runs to its end, and
// then the goroutine returns. It reports whether the goroutine was started.
// Stop is idempotent, and may be called from fire.
func (s *Scheduler[T]) Stop() (started bool) {
	s.mu.Lock()
	wasClosed, started := s.closed, s.running
	s.closed = true
	s.heap = nil
	s.mu.Unlock()
	if !wasClosed {
		close(s.done)
	}
	return started
}

func (s *Scheduler[T]) run() {
	defer close(s.exited)
	if s.labels != nil {
		pprof.SetGoroutineLabels(s.labels)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []T
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := time.Now()
		for len(s.heap) > 0 && !s.heap[0].due.After(now) {
			batch = append(batch, s.pop().v)
		}
		wait := time.Duration(-1)
		if len(s.heap) > 0 {
			wait = s.heap[0].due.Sub(now)
		}
		s.mu.Unlock()

		for _, v := range batch {
			s.fire(v)
		}
		clear(batch)
		batch = batch[:0]

		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-tick:
		case <-s.wake:
			timer.Stop()
		case <-s.done:
			timer.Stop()
			return
		}
	}
}

func (s *Scheduler[T]) push(it item[T]) {
	s.heap = append(s.heap, it)
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.heap[i].before(&s.heap[p]) {
			break
		}
		s.heap[i], s.heap[p] = s.heap[p], s.heap[i]
		i = p
	}
}

func (s *Scheduler[T]) pop() item[T] {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	var zero item[T]
	h[last] = zero
	h = h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(&h[m]) {
			m = l
		}
		if r < len(h) && h[r].before(&h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}
