// Package ring provides the FIFO ring buffers herald stores messages in.
//
// A Ring is not safe for concurrent use: its owner guards it with a lock.
// It keeps values, not pointers to them, so pushing a value allocates nothing
// once the buffer has grown to the working size, and it never shrinks, so a
// steady flow of messages allocates nothing at all.
package ring

// Ring is a growable double-ended FIFO of T. The zero value is an empty ring
// ready to use.
type Ring[T any] struct {
	buf  []T // len(buf) is zero or a power of two
	head int // index of the first element
	n    int // number of elements
}

// New returns a ring with room for at least n elements before it grows.
func New[T any](n int) *Ring[T] {
	r := &Ring[T]{}
	if n > 0 {
		r.buf = make([]T, ceilPow2(n))
	}
	return r
}

// Len returns the number of elements in the ring.
func (r *Ring[T]) Len() int { return r.n }

// PushBack appends v at the tail.
func (r *Ring[T]) PushBack(v T) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = v
	r.n++
}

// PushFront inserts v at the head, so that it is the next PopFront.
func (r *Ring[T]) PushFront(v T) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.head = (r.head - 1) & (len(r.buf) - 1)
	r.buf[r.head] = v
	r.n++
}

// PopFront removes and returns the head. ok is false when the ring is empty.
func (r *Ring[T]) PopFront() (v T, ok bool) {
	if r.n == 0 {
		return v, false
	}
	var zero T
	v = r.buf[r.head]
	r.buf[r.head] = zero // let the garbage collector have what v points to
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return v, true
}

// PopBack removes and returns the tail. ok is false when the ring is empty.
func (r *Ring[T]) PopBack() (v T, ok bool) {
	if r.n == 0 {
		return v, false
	}
	var zero T
	i := (r.head + r.n - 1) & (len(r.buf) - 1)
	v = r.buf[i]
	r.buf[i] = zero
	r.n--
	return v, true
}

// Front returns a pointer to the head without removing it, or nil when the
// ring is empty. The pointer is valid until the next push or pop.
func (r *Ring[T]) Front() *T {
	if r.n == 0 {
		return nil
	}
	return &r.buf[r.head]
}

// At returns a pointer to the i-th element from the head (0 is the head).
// It panics if i is out of range, like a slice index.
func (r *Ring[T]) At(i int) *T {
	if i < 0 || i >= r.n {
		panic("ring: index out of range")
	}
	return &r.buf[(r.head+i)&(len(r.buf)-1)]
}

func (r *Ring[T]) grow() {
	size := len(r.buf) * 2
	if size == 0 {
		size = 8
	}
	buf := make([]T, size)
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
