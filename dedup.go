package herald

import (
	"math"

	"github.com/heraldmq/herald/internal/ring"
)

// MaxDedupIDs bounds how many message IDs a queue or topic with WithDedup
// remembers.
const MaxDedupIDs = 1 << 20

// dedupWindow remembers the IDs published within a window of time, oldest
// first, so that forgetting them as the window slides costs O(1) each.
// Its owner guards it with a lock.
type dedupWindow struct {
	window int64 // on the broker clock
	seen   map[string]int64
	order  ring.Ring[dedupID]
}

type dedupID struct {
	id      string
	expires int64
}

func newDedupWindow(window int64) *dedupWindow {
	return &dedupWindow{window: window, seen: map[string]int64{}}
}

// contains reports whether id was added within the window before now.
func (w *dedupWindow) contains(id string, now int64) bool {
	w.forget(now)
	_, ok := w.seen[id]
	return ok
}

// add remembers id until now + window.
func (w *dedupWindow) add(id string, now int64) {
	if _, ok := w.seen[id]; ok {
		return
	}
	if w.order.Len() >= MaxDedupIDs {
		old, _ := w.order.PopFront()
		delete(w.seen, old.id)
	}
	exp := now + w.window
	if w.window > math.MaxInt64-now {
		exp = math.MaxInt64 // a window of math.MaxInt64 means forever
	}
	w.seen[id] = exp
	w.order.PushBack(dedupID{id: id, expires: exp})
}

func (w *dedupWindow) forget(now int64) {
	for {
		f := w.order.Front()
		if f == nil || f.expires > now {
			return
		}
		delete(w.seen, f.id)
		w.order.PopFront()
	}
}
