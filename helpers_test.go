package herald

import (
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/leak"
)

// newTestBroker returns a broker that is closed when the test ends, after
// which the test fails if any goroutine of herald is still running.
func newTestBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	b := New(opts...)
	t.Cleanup(func() {
		b.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return b
}

// mustQueue declares a queue or fails the test.
func mustQueue(t testing.TB, b *Broker, name string, opts ...QueueOption) *Queue {
	t.Helper()
	q, err := b.Queue(name, opts...)
	if err != nil {
		t.Fatalf("Queue(%q): %v", name, err)
	}
	return q
}
