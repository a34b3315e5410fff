package heraldnats

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// connGate tells the routes whether the connection is up, so that exports
// leave messages in herald while NATS is unreachable instead of sending
// them into a void and burning their attempts.
type connGate struct {
	nc *nats.Conn
	ch chan nats.Status // the status listener; closed by stop

	mu sync.Mutex
	up chan struct{} // closed while connected; guarded by mu
}

func newConnGate(nc *nats.Conn) *connGate {
	g := &connGate{nc: nc, up: make(chan struct{})}
	g.ch = nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	g.update()
	return g
}

// watch follows the connection's status until stop closes the listener.
func (g *connGate) watch() {
	for range g.ch {
		g.update() // events may be dropped: the status is read, not inferred
	}
}

func (g *connGate) stop() { g.nc.RemoveStatusListener(g.ch) }

func (g *connGate) update() {
	connected := g.nc.IsConnected()
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.up:
		if !connected {
			g.up = make(chan struct{})
		}
	default:
		if connected {
			close(g.up)
		}
	}
}

// wait blocks until the connection is up or ctx ends (returning ctx.Err()).
func (g *connGate) wait(ctx context.Context) error {
	g.mu.Lock()
	up := g.up
	g.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the wait before reconnect attempt n (from 1): min
// doubling up to max, randomised by ±20%.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if d > max {
		d = max
	}
	return d
}
