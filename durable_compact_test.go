package herald

import (
	"context"
	"strings"
	"testing"
)

// Under steady traffic, a message that stays in a queue for the whole run
// does not pin the segments written after it: compaction copies it
// forward, and disk use stays bounded. Without compaction the log would
// keep every segment since the straggler: about 1 MiB here.
func TestDurableDiskBoundedWithStraggler(t *testing.T) {
	const segment, messages = 4096, 3000
	dir := t.TempDir()
	b := openTest(t, dir, WithSync(SyncNever()), withSegmentSize(segment))
	stuck := mustQueue(t, b, "stuck", Durable())
	flow := mustQueue(t, b, "flow", Durable())
	mustPublish(t, stuck, NewMessage("straggler"))
	body := strings.Repeat("x", 200)
	var most int64
	for i := range messages {
		mustPublish(t, flow, NewMessage(body))
		receive(t, flow).Ack()
		if i%50 == 0 {
			most = max(most, b.DurableStats().Bytes)
		}
	}
	st := b.DurableStats()
	t.Logf("most bytes on disk %d, at the end %+v", most, st)
	if most > 64<<10 {
		t.Errorf("disk use reached %d bytes, want at most 64 KiB", most)
	}
	if st.Copied == 0 {
		t.Error("nothing was copied forward")
	}
	closeTest(t, b)
	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != 1 {
		t.Fatalf("recovered %d, want the straggler only", st.Recovered)
	}
	stuck = mustQueue(t, b, "stuck", Durable())
	if d := receive(t, stuck); d.Body != "straggler" {
		t.Fatalf("got %v", d.Body)
	}
}

// Recovered messages whose queue is not declared again are copied forward
// too.
func TestDurableWaitingCopiedForward(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, WithSync(SyncNever()), withSegmentSize(4096))
	mustPublish(t, mustQueue(t, b, "later", Durable()), NewMessage("waits"))
	closeTest(t, b)
	b = openTest(t, dir, WithSync(SyncNever()), withSegmentSize(4096))
	flow := mustQueue(t, b, "flow", Durable())
	body := strings.Repeat("x", 200)
	for range 1000 {
		mustPublish(t, flow, NewMessage(body))
		receive(t, flow).Ack()
	}
	if st := b.DurableStats(); st.Waiting != 1 || st.Copied == 0 || st.Bytes > 64<<10 {
		t.Fatalf("DurableStats = %+v, want 1 waiting, copied forward, bounded", st)
	}
	closeTest(t, b)
	b = openTest(t, dir)
	if d := receive(t, mustQueue(t, b, "later", Durable())); d.Body != "waits" {
		t.Fatalf("got %v", d.Body)
	}
}

// A durable topic's group record and a message its group never acks are
// copied forward too, under steady traffic through the topic.
func TestDurableTopicDiskBounded(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, WithSync(SyncNever()), withSegmentSize(4096))
	tp, err := b.Topic("t", Durable(), WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	slow := mustSubscribe(t, tp, WithGroup("slow"))
	fast := mustSubscribe(t, tp, WithGroup("fast"))
	tp.Publish(context.Background(), NewMessage("first"))
	held := subReceive(t, slow) // never settled: the group holds it
	subReceive(t, fast).Ack()
	body := strings.Repeat("x", 200)
	var most int64
	for i := range 2000 {
		if err := tp.Publish(context.Background(), NewMessage(body)); err != nil {
			t.Fatal(err)
		}
		subReceive(t, fast).Ack()
		subReceive(t, slow).Ack()
		if i%50 == 0 {
			most = max(most, b.DurableStats().Bytes)
		}
	}
	t.Logf("most bytes on disk %d, at the end %+v", most, b.DurableStats())
	if most > 64<<10 {
		t.Errorf("disk use reached %d bytes, want at most 64 KiB", most)
	}
	slow.Close()
	fast.Close()
	closeTest(t, b)
	b = openTest(t, dir)
	tp, _ = b.Topic("t", Durable(), WithCapacity(4))
	d := subReceive(t, mustSubscribe(t, tp, WithGroup("slow")))
	if d.Seq != held.Seq || d.Body != "first" || d.Attempt != 2 {
		t.Fatalf("got seq %d %v attempt %d, want the held message again", d.Seq, d.Body, d.Attempt)
	}
}
