package herald

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// The design's memory target: what herald itself keeps per message it
// holds, beyond the caller's *Message and body.
const maxQueuedOverhead = 64 // bytes

const queuedMessages = 1_000_000

// TestQueuedMessageOverhead fails when a queue holding 1,000,000 messages
// uses more than maxQueuedOverhead bytes of heap per message beyond the
// caller's own. The race detector keeps its shadow memory outside the Go
// heap, so the figure is the same under -race, only slower to get.
func TestQueuedMessageOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("queues 1,000,000 messages")
	}
	per := queueOverhead(t, queuedMessages)
	t.Logf("%.1f B per queued message beyond the caller's own", per)
	if per > maxQueuedOverhead {
		t.Errorf("%.1f B per queued message beyond the caller's own, want ≤ %d", per, maxQueuedOverhead)
	}
}

// BenchmarkQueuedMessageOverhead reports the heap herald uses per message
// it holds beyond the caller's *Message and body, as B/queued-msg: for a
// queue of capacity 1,000,000 holding 1,000,000 messages with no consumer,
// and for a topic retaining a full ring of 1<<20. The messages are queued
// once however many iterations b.Loop makes; ns/op means nothing here and
// is not reported.
func BenchmarkQueuedMessageOverhead(b *testing.B) {
	b.Run("queue", func(b *testing.B) { benchOverhead(b, queueOverhead(b, queuedMessages)) })
	b.Run("topic", func(b *testing.B) { benchOverhead(b, topicOverhead(b, 1<<20)) })
}

func benchOverhead(b *testing.B, per float64) {
	for b.Loop() {
	}
	b.ReportMetric(per, "B/queued-msg")
	b.ReportMetric(0, "ns/op")
}

// overheadMessages allocates n messages with distinct bodies, so that the
// heap they take is the caller's, counted before herald sees them.
func overheadMessages(n int) []Message {
	msgs := make([]Message, n)
	bodies := make([]struct{ n int }, n)
	for i := range msgs {
		bodies[i].n = i
		msgs[i].Body = &bodies[i]
	}
	return msgs
}

// liveHeap returns the bytes of heap in use once the garbage is collected.
func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// queueOverhead publishes n messages to a queue of capacity n with no
// consumer and returns the heap growth per message, then receives them
// all, in order, to prove the queue held every one.
func queueOverhead(tb testing.TB, n int) float64 {
	tb.Helper()
	ctx := context.Background()
	msgs := overheadMessages(n)
	br := New()
	defer br.Close()

	before := liveHeap()
	q, err := br.Queue("overhead", WithCapacity(n))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range msgs {
		if err := q.Publish(ctx, &msgs[i]); err != nil {
			tb.Fatalf("Publish %d: %v", i, err)
		}
	}
	after := liveHeap()

	if got := q.Len(); got != n {
		tb.Fatalf("Len() = %d after %d publishes, want %d", got, n, n)
	}
	for i := range msgs {
		d, err := q.Receive(ctx)
		if err != nil {
			tb.Fatalf("Receive %d: %v", i, err)
		}
		if d.Message != &msgs[i] {
			tb.Fatalf("Receive %d: got message with body %v, want %d", i, d.Body, i)
		}
		d.Ack()
	}
	if st := q.Stats(); st.Acked != uint64(n) || st.Ready != 0 {
		tb.Fatalf("after draining: %+v, want %d acked and none ready", st, n)
	}
	return float64(after-before) / float64(n)
}

// topicOverhead publishes n messages to a topic of capacity n with no
// subscription and returns the heap growth per message, the ring
// included, then reads them all from the earliest to prove it retained
// every one.
func topicOverhead(tb testing.TB, n int) float64 {
	tb.Helper()
	ctx := context.Background()
	msgs := overheadMessages(n)
	br := New()
	defer br.Close()

	before := liveHeap()
	t, err := br.Topic("overhead", WithCapacity(n))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range msgs {
		if err := t.Publish(ctx, &msgs[i]); err != nil {
			tb.Fatalf("Publish %d: %v", i, err)
		}
	}
	after := liveHeap()

	if got := t.Stats().Retained; got != n {
		tb.Fatalf("Retained = %d after %d publishes, want %d", got, n, n)
	}
	sub, err := t.Subscribe(FromEarliest())
	if err != nil {
		tb.Fatal(err)
	}
	for i := range msgs {
		d, err := sub.Receive(ctx)
		if err != nil {
			tb.Fatalf("Receive %d: %v", i, err)
		}
		if d.Message != &msgs[i] {
			tb.Fatalf("Receive %d: got message with body %v, want %d", i, d.Body, i)
		}
		d.Ack()
	}
	if st := sub.Stats(); st.Acked != uint64(n) || st.Missed != 0 {
		tb.Fatalf("after reading: %+v, want %d acked and none missed", st, n)
	}
	return float64(after-before) / float64(n)
}

// emptyQueueBytes is the most an empty queue may cost: 10,000 of them used
// 64 MB when each made its 128-slot intake ring at declare.
const emptyQueueBytes = 1536

// TestEmptyQueueMemory declares queues that nobody publishes to and fails
// if each costs more than emptyQueueBytes of heap (names and the broker's
// table included).
func TestEmptyQueueMemory(t *testing.T) {
	const n = 2000
	b := newTestBroker(t)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("queue-%05d", i)
	}
	before := liveHeap()
	for _, name := range names {
		mustQueue(t, b, name)
	}
	per := float64(liveHeap()-before) / n
	t.Logf("%.0f B per empty queue", per)
	if per > emptyQueueBytes {
		t.Errorf("an empty queue costs %.0f B, want at most %d", per, emptyQueueBytes)
	}
	runtime.KeepAlive(names)
}
