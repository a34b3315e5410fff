package herald

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/leak"
	"github.com/heraldmq/herald/internal/wal/walfs"
)

// durableTestOption sets what only tests set: small segments, a faulty
// file system.
type durableTestOption func(*durableConfig)

func (o durableTestOption) applyBroker(c *brokerConfig) { o(&c.durable) }

func withSegmentSize(n int64) Option {
	return durableTestOption(func(c *durableConfig) { c.segmentSize = n })
}

func withFS(fs walfs.FS) Option {
	return durableTestOption(func(c *durableConfig) { c.fs = fs })
}

// openTest opens a broker on dir that is closed when the test ends, after
// which the test fails if a goroutine of herald is left.
func openTest(t testing.TB, dir string, opts ...Option) *Broker {
	t.Helper()
	b, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		b.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return b
}

// closeTest closes b and fails the test on an error.
func closeTest(t testing.TB, b *Broker) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustPublish(t testing.TB, q *Queue, m *Message) {
	t.Helper()
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// receive takes the next delivery, failing the test after a few seconds.
func receive(t testing.TB, q *Queue) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive from %q: %v", q.Name(), err)
	}
	return d
}

// receiveNone checks that nothing is ready within a short wait.
func receiveNone(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if d, err := q.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive from %q = %v, %v; want nothing", q.Name(), d, err)
	}
}
