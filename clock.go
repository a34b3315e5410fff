package herald

import (
	"sync/atomic"
	"time"
)

// wallClock tells the time with one monotonic clock read instead of
// time.Now's two (wall and monotonic), which is a third of a publish on some
// virtual machines. It extends an anchor taken with time.Now by the
// monotonic time since, and takes a fresh anchor every second so that wall
// clock adjustments show up within a second.
type wallClock struct {
	anchor atomic.Pointer[time.Time]
}

const reanchorAfter = time.Second

func newWallClock() *wallClock {
	c := &wallClock{}
	now := time.Now()
	c.anchor.Store(&now)
	return c
}

// now returns the current time, with a monotonic reading.
func (c *wallClock) now() time.Time {
	a := c.anchor.Load()
	since := time.Since(*a)
	if since < 0 || since >= reanchorAfter {
		now := time.Now()
		c.anchor.Store(&now)
		return now
	}
	return a.Add(since)
}
