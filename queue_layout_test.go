package herald

import (
	"testing"
	"unsafe"
)

// cacheLine is the line size the Queue's padding is made for.
const cacheLine = 64

// span is the bytes [off, off+size) of a field within its struct.
type span struct {
	name      string
	off, size uintptr
}

// mayShareLine reports whether a and b can have bytes on one cache line.
// Go places a Queue at an address that is a multiple of 8, not
// necessarily of 64, so a line may start at any multiple of 8 within it:
// every such start is tried.
func mayShareLine(a, b span) bool {
	for start := uintptr(0); start < cacheLine; start += 8 {
		aFirst, aLast := (start+a.off)/cacheLine, (start+a.off+a.size-1)/cacheLine
		bFirst, bLast := (start+b.off)/cacheLine, (start+b.off+b.size-1)/cacheLine
		if aFirst <= bLast && bFirst <= aLast {
			return true
		}
	}
	return false
}

// The Queue's padding keeps apart what different goroutines write without
// the lock: the fields every publish reads (sleepers, held), occupied, on
// which every publish compare-and-swaps, and mu with the fields it guards,
// which consumers write. A field added between them, or a pad removed,
// would put two of them on one line again without any test noticing, and
// cost every publish a cache miss.
func TestQueueLayoutPadsHotFields(t *testing.T) {
	var q Queue
	field := func(name string, off, size uintptr) span { return span{name, off, size} }
	// sleepers and held are read together: one span, from the first to the
	// end of the second.
	readByPublish := field("sleepers..held", unsafe.Offsetof(q.sleepers),
		unsafe.Offsetof(q.held)+unsafe.Sizeof(q.held)-unsafe.Offsetof(q.sleepers))
	occupied := field("occupied", unsafe.Offsetof(q.occupied), unsafe.Sizeof(q.occupied))
	mu := field("mu", unsafe.Offsetof(q.mu), unsafe.Sizeof(q.mu))
	settles := field("settles", unsafe.Offsetof(q.settles), unsafe.Sizeof(q.settles.shared))
	intake := field("intake", unsafe.Offsetof(q.intake), unsafe.Sizeof(q.intake))

	for _, pair := range [][2]span{
		{readByPublish, occupied},
		{intake, occupied},
		{occupied, mu},
		// Every Receive's settle writes settles.shared without the lock.
		{mu, settles},
	} {
		if mayShareLine(pair[0], pair[1]) {
			t.Errorf("%s (offset %d, %d bytes) and %s (offset %d, %d bytes) can share a %d-byte cache line",
				pair[0].name, pair[0].off, pair[0].size, pair[1].name, pair[1].off, pair[1].size, cacheLine)
		}
	}
}

// mayShareLine itself: two 8-byte fields 64 bytes apart never share a
// line; 56 apart they can, and so can a 16-byte field 64 before.
func TestMayShareLine(t *testing.T) {
	for _, c := range []struct {
		a, b span
		want bool
	}{
		{span{"a", 0, 8}, span{"b", 64, 8}, false},
		{span{"a", 0, 8}, span{"b", 56, 8}, true},
		{span{"a", 0, 5}, span{"b", 64, 8}, false},
		{span{"a", 0, 16}, span{"b", 64, 8}, true},
		{span{"a", 0, 16}, span{"b", 72, 8}, false},
		{span{"a", 8, 8}, span{"b", 16, 8}, true},
	} {
		if got := mayShareLine(c.a, c.b); got != c.want {
			t.Errorf("mayShareLine(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
