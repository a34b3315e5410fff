package ring

import "sync/atomic"

// MPSC is a bounded lock-free FIFO for many producers and one consumer at a
// time, after Dmitry Vyukov's bounded queue: each slot carries a sequence
// number that says whether it is free for the producer of lap t or full for
// the consumer of lap t. Producers never block each other for longer than a
// compare-and-swap; the consumer side is not synchronized, so its owner
// guards TryPop with a lock (several goroutines may consume, one at a time).
type MPSC[T any] struct {
	tail  atomic.Uint64 // next position a producer claims
	_     [56]byte      // keep producers' and consumer's counters apart
	head  uint64        // next position to pop; the consumer's lock guards it
	mask  uint64
	slots []mpscSlot[T]
}

type mpscSlot[T any] struct {
	seq atomic.Uint64 // pos: free for the producer of pos; pos+1: holds its value
	v   T
}

// NewMPSC returns a queue holding at most n values, n rounded up to a power
// of two.
func NewMPSC[T any](n int) *MPSC[T] {
	size := ceilPow2(max(n, 1))
	q := &MPSC[T]{mask: uint64(size - 1), slots: make([]mpscSlot[T], size)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// TryPush appends v and reports true, or reports false when the queue is
// full. It is safe to call from any number of goroutines at once.
func (q *MPSC[T]) TryPush(v T) bool {
	pos, ok := q.Claim()
	if ok {
		q.Fill(pos, v)
	}
	return ok
}

// Claim takes the next position, for a value that Fill will put there,
// and reports true, or reports false when the queue is full. Until the
// Fill, TryPop stops at that position (and Pending reports true), so the
// caller must call Fill at once. It is safe to call from any number of
// goroutines at once.
func (q *MPSC[T]) Claim() (pos uint64, ok bool) {
	for {
		pos := q.tail.Load()
		switch seq := q.slots[pos&q.mask].seq.Load(); {
		case seq == pos:
			if q.tail.CompareAndSwap(pos, pos+1) {
				return pos, true
			}
		case seq < pos:
			return 0, false // the slot still holds the value of the previous lap
		}
		// Another producer claimed pos first: try the next one.
	}
}

// Fill puts v at the position Claim returned, which makes it, and the
// values behind it that are already filled, poppable.
func (q *MPSC[T]) Fill(pos uint64, v T) {
	s := &q.slots[pos&q.mask]
	s.v = v
	s.seq.Store(pos + 1) // publishes v to the consumer
}

// TryPop removes and returns the oldest value whose push has completed.
// ok is false when there is none. Only one goroutine may call it at a time.
func (q *MPSC[T]) TryPop() (v T, ok bool) {
	s := &q.slots[q.head&q.mask]
	if s.seq.Load() != q.head+1 {
		return v, false
	}
	var zero T
	v, s.v = s.v, zero
	s.seq.Store(q.head + q.mask + 1) // free for the producer of the next lap
	q.head++
	return v, true
}

// Pending reports whether a position has been claimed and not yet popped:
// after TryPop reports false, whether a producer is between its Claim and
// its Fill. Only the consumer may call it, under the same guard as TryPop.
func (q *MPSC[T]) Pending() bool { return q.tail.Load() != q.head }
