package heraldnats

import (
	"context"
	"sync"
)

// Route is one flow the bridge runs: an export, an import or a request
// route. It runs from its declaration until Route.Close or Bridge.Close.
type Route struct {
	name string
	c    counters
	lag  func() uint64 // the source's backlog; nil: c.lag

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newRoute(name string) *Route { return &Route{name: name, done: make(chan struct{})} }

// Name describes the route, as "export queue orders -> orders.{key}".
func (r *Route) Name() string { return r.name }

// String returns the route's name.
func (r *Route) String() string { return r.name }

// Stats returns a snapshot of the route's counters.
func (r *Route) Stats() Stats {
	s := r.c.snapshot()
	if r.lag != nil {
		s.Lag = r.lag()
	}
	return s
}

func (r *Route) start(parent context.Context, run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		run(ctx)
	}()
}

func (r *Route) isDone() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Close stops the route as Bridge.Close stops each route, and waits until
// its goroutines have returned. It is idempotent and returns nil.
func (r *Route) Close() error {
	r.once.Do(func() {
		r.cancel()
	})
	<-r.done
	return nil
}
