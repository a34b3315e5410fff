package herald

import "github.com/heraldmq/herald/internal/ring"

// readyList holds a queue's ready messages: one FIFO ring per priority
// level, highest level served first. A queue without priorities has one
// level, and Message.Priority is ignored.
type readyList struct {
	levels []ring.Ring[entry]
	n      int
}

func newReadyList(levels int) readyList {
	return readyList{levels: make([]ring.Ring[entry], max(levels, 1))}
}

func (r *readyList) Len() int { return r.n }

// level is the ring e belongs in: its priority, capped at the highest.
func (r *readyList) level(e entry) int {
	if len(r.levels) == 1 {
		return 0
	}
	return min(int(e.m.Priority), len(r.levels)-1)
}

func (r *readyList) PushBack(e entry) {
	r.levels[r.level(e)].PushBack(e)
	r.n++
}

func (r *readyList) PushFront(e entry) {
	r.levels[r.level(e)].PushFront(e)
	r.n++
}

// PopFront removes the oldest message of the highest non-empty level.
func (r *readyList) PopFront() (entry, bool) {
	for i := len(r.levels) - 1; i >= 0; i-- {
		if e, ok := r.levels[i].PopFront(); ok {
			r.n--
			return e, true
		}
	}
	return entry{}, false
}

// PopOldestLeast removes the oldest message of the lowest non-empty level:
// the one OverflowDropOldest sacrifices.
func (r *readyList) PopOldestLeast() (entry, bool) {
	for i := range r.levels {
		if e, ok := r.levels[i].PopFront(); ok {
			r.n--
			return e, true
		}
	}
	return entry{}, false
}

// removeIf takes out, in order, every message for which dead is true and
// appends it to out; it returns out and the earliest expiry among the
// messages that stay (0: none expires).
func (r *readyList) removeIf(dead func(entry) bool, out []entry) ([]entry, int64) {
	var next int64
	for i := range r.levels {
		l := &r.levels[i]
		for k, n := 0, l.Len(); k < n; k++ {
			e, _ := l.PopFront()
			if dead(e) {
				out = append(out, e)
				r.n--
				continue
			}
			l.PushBack(e)
			if e.expires != 0 && (next == 0 || e.expires < next) {
				next = e.expires
			}
		}
	}
	return out, next
}
