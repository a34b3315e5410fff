package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

type order struct {
	ID    int
	Items []string
}

func TestDurableNeedsOpen(t *testing.T) {
	b := newTestBroker(t)
	if _, err := b.Queue("q", Durable()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Queue(Durable) on New = %v, want ErrInvalid", err)
	}
	if _, err := b.Topic("t", Durable()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Topic(Durable) on New = %v, want ErrInvalid", err)
	}
}

func TestOpenLocksDir(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	if b, err := Open(dir); !errors.Is(err, ErrExists) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second Open = %v, want ErrExists", err)
	}
}

func TestDurableRedeclare(t *testing.T) {
	b := openTest(t, t.TempDir())
	mustQueue(t, b, "q", Durable())
	if _, err := b.Queue("q"); !errors.Is(err, ErrExists) {
		t.Fatalf("redeclare without Durable = %v, want ErrExists", err)
	}
	if _, err := b.Queue("t", Durable(), WithTransform(func(m *Message) (*Message, error) { return m, nil })); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Durable with transform = %v, want ErrInvalid", err)
	}
}

// Ready messages come back in order, with their fields; bodies come back
// as documented and typed consumers get the same T.
func TestDurableReadySurvives(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	bodies := []any{[]byte("raw"), "text", order{1, []string{"a"}}, &order{2, nil}, json.RawMessage(`{"ID":3}`), nil}
	for i, body := range bodies {
		mustPublish(t, q, &Message{Body: body, Key: "k", Headers: Headers{"h": "v"}, CorrelationID: "c", ReplyTo: "r", Priority: uint8(i)})
	}
	mem := mustQueue(t, b, "mem")
	mustPublish(t, mem, NewMessage("gone"))
	closeTest(t, b)

	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != len(bodies) || st.Waiting != len(bodies) {
		t.Fatalf("DurableStats = %+v, want %d recovered and waiting", st, len(bodies))
	}
	if mem := mustQueue(t, b, "mem"); mem.Len() != 0 {
		t.Fatalf("memory queue has %d after restart", mem.Len())
	}
	q = mustQueue(t, b, "q", Durable())
	if st := q.Stats(); st.Ready != len(bodies) || st.Published != uint64(len(bodies)) {
		t.Fatalf("Stats = %+v, want %d ready", st, len(bodies))
	}
	want := []any{[]byte("raw"), "text", json.RawMessage(`{"ID":1,"Items":["a"]}`), json.RawMessage(`{"ID":2,"Items":null}`), json.RawMessage(`{"ID":3}`), nil}
	for i := range bodies {
		d := receive(t, q)
		if !reflect.DeepEqual(d.Body, want[i]) {
			t.Errorf("body %d = %#v, want %#v", i, d.Body, want[i])
		}
		if d.Key != "k" || d.Headers["h"] != "v" || d.CorrelationID != "c" || d.ReplyTo != "r" || d.Priority != uint8(i) || d.ID == "" || d.Time.IsZero() {
			t.Errorf("message %d = %+v", i, d.Message)
		}
		if d.Attempt != 1 {
			t.Errorf("message %d: attempt %d, want 1", i, d.Attempt)
		}
		if i == 2 {
			if v, err := BodyAs[order](d.Message); err != nil || !reflect.DeepEqual(v, order{1, []string{"a"}}) {
				t.Errorf("BodyAs[order] = %+v, %v", v, err)
			}
		}
		if i == 3 {
			if v, err := BodyAs[*order](d.Message); err != nil || v.ID != 2 {
				t.Errorf("BodyAs[*order] = %+v, %v", v, err)
			}
		}
		d.Ack()
	}
	if st := b.DurableStats(); st.Waiting != 0 {
		t.Fatalf("Waiting = %d after declaring", st.Waiting)
	}
}

// A typed consumer gets the same T before and after a restart.
func TestDurableTypedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, NewMessage(order{7, []string{"x", "y"}}))
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	got := make(chan order, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, Typed(func(_ context.Context, o order) error { got <- o; return nil }))
	}()
	if o := <-got; !reflect.DeepEqual(o, order{7, []string{"x", "y"}}) {
		t.Fatalf("typed handler got %+v", o)
	}
	cancel()
	<-done
}

func TestDurableAckedDoNotComeBack(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable(), WithMaxDeliveries(1), WithDeadLetter("dlq"))
	mustQueue(t, b, "dlq", Durable())
	for i := range 6 {
		mustPublish(t, q, NewMessage(i))
	}
	receive(t, q).Ack()
	receive(t, q).Reject()      // dead-lettered into a durable queue
	receive(t, q).Nack()        // max deliveries: dead-lettered
	if n := q.Purge(); n != 3 { // purged
		t.Fatalf("Purge = %d", n)
	}
	mustPublish(t, q, NewMessage(6))
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable(), WithMaxDeliveries(1), WithDeadLetter("dlq"))
	dlq := mustQueue(t, b, "dlq", Durable())
	if d := receive(t, q); string(d.Body.(json.RawMessage)) != "6" {
		t.Fatalf("got %s, want 6", d.Body)
	}
	receiveNone(t, q)
	for _, want := range []string{"1", "2"} {
		d := receive(t, dlq)
		if string(d.Body.(json.RawMessage)) != want || d.Headers[HeaderDeathQueue] != "q" {
			t.Fatalf("dead letter %s %v, want %s", d.Body, d.Headers, want)
		}
	}
}

// A message handed out and not settled comes back as a redelivery; one
// backing off comes back backing off, with its due time. It runs in a
// synctest bubble, so the due time is checked exactly.
func TestDurableUnackedAndBackoff(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableUnackedAndBackoff(t, dir) })
}

func testDurableUnackedAndBackoff(t *testing.T, dir string) {
	b := openTest(t, dir)
	opts := []QueueOption{Durable(), WithBackoff(time.Hour, time.Hour)}
	q := mustQueue(t, b, "q", opts...)
	short := mustQueue(t, b, "short", Durable(), WithBackoff(100*time.Millisecond, 100*time.Millisecond))
	mustPublish(t, q, NewMessage("unacked"))
	mustPublish(t, q, NewMessage("nacked"))
	mustPublish(t, short, NewMessage("soon"))
	if d := receive(t, q); d.Body != "unacked" {
		t.Fatalf("got %v", d.Body)
	}
	receive(t, q).Nack()
	receive(t, short).Nack()
	due := time.Now().Add(100 * time.Millisecond)
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", opts...)
	if st := q.Stats(); st.Ready != 1 || st.Delayed != 1 {
		t.Fatalf("Stats = %+v, want 1 ready, 1 delayed", st)
	}
	d := receive(t, q)
	if d.Body != "unacked" || d.Attempt != 2 {
		t.Fatalf("got %v attempt %d, want unacked attempt 2", d.Body, d.Attempt)
	}
	receiveNone(t, q)
	short = mustQueue(t, b, "short", Durable(), WithBackoff(100*time.Millisecond, 100*time.Millisecond))
	if d := receive(t, short); d.Body != "soon" || d.Attempt != 2 {
		t.Fatalf("got %v attempt %d, want soon attempt 2", d.Body, d.Attempt)
	}
	if now := time.Now(); now.Before(due) {
		t.Fatalf("soon came back %v before its back-off ended", due.Sub(now))
	}
}

// A delayed message keeps its due time and a TTL its absolute expiry.
// It runs in a synctest bubble, so the broker's downtime and the delays
// are exact: a loaded machine cannot make "soon" due before the restart.
func TestDurableDelayAndTTL(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableDelayAndTTL(t, dir) })
}

func testDurableDelayAndTTL(t *testing.T, dir string) {
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, &Message{Body: "later", Delay: time.Hour})
	mustPublish(t, q, &Message{Body: "soon", Delay: 50 * time.Millisecond})
	mustPublish(t, q, &Message{Body: "long", TTL: time.Hour})
	mustPublish(t, q, &Message{Body: "short", TTL: 30 * time.Millisecond})
	closeTest(t, b)
	time.Sleep(40 * time.Millisecond) // the broker is down while the short TTL runs out

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	if st := q.Stats(); st.Scheduled != 2 {
		t.Fatalf("Stats = %+v, want 2 scheduled (soon is due 10ms after the restart)", st)
	}
	q.lock()
	var long int64
	for range q.ready.Len() {
		e, _ := q.ready.PopFront()
		if e.m.Body == "long" {
			long = e.expires
		}
		q.ready.PushBack(e)
	}
	q.mu.Unlock()
	if rest := time.Duration(long - b.clock()); rest < 59*time.Minute || rest > time.Hour {
		t.Fatalf("long TTL has %v left, want about 1h", rest)
	}
	if d := receive(t, q); d.Body != "long" {
		t.Fatalf("got %v, want long (short has expired)", d.Body)
	}
	if d := receive(t, q); d.Body != "soon" {
		t.Fatalf("got %v, want soon", d.Body)
	}
	if st := q.Stats(); st.Expired != 1 || st.Scheduled != 1 {
		t.Fatalf("Stats = %+v, want 1 expired, 1 scheduled", st)
	}
}

func TestDurableCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	for _, s := range []string{"first-body", "second", "third"} {
		mustPublish(t, q, NewMessage(s))
	}
	closeTest(t, b)
	seg := onlySegment(t, dir)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	i := indexOf(data, "first-body")
	data[i] ^= 0xff
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(fmt.Sprint(err), seg) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, seg)
	}
	b = openTest(t, dir, WithSkipCorrupt())
	if st := b.DurableStats(); st.Skipped != 1 || st.Recovered != 2 {
		t.Fatalf("DurableStats = %+v, want 1 skipped, 2 recovered", st)
	}
}

func TestDurableTornTail(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, NewMessage("kept"))
	closeTest(t, b)
	f, err := os.OpenFile(onlySegment(t, dir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 0, 0, 0, 1, 0, 9, 9, 1, 2, 3}) // a frame cut short
	f.Close()
	b = openTest(t, dir)
	if st := b.DurableStats(); st.TornBytes != 11 || st.Recovered != 1 {
		t.Fatalf("DurableStats = %+v, want 11 torn bytes, 1 recovered", st)
	}
	q = mustQueue(t, b, "q", Durable())
	if d := receive(t, q); d.Body != "kept" {
		t.Fatalf("got %v", d.Body)
	}
}

func onlySegment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	return segs[0]
}

func indexOf(data []byte, s string) int {
	for i := range len(data) - len(s) {
		if string(data[i:i+len(s)]) == s {
			return i
		}
	}
	panic("not found: " + s)
}

// An fsync error fails the publish it covers, and every later one: the
// broker no longer claims durability. Nothing failed is counted.
func TestDurableSyncErrorFailsPublish(t *testing.T) {
	dir := t.TempDir()
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, dir, withFS(fs))
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, NewMessage("ok"))
	boom := errors.New("disk on fire")
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpSync {
			return walfs.Fault{Err: boom}
		}
		return walfs.Fault{}
	})
	if err := q.Publish(context.Background(), NewMessage("lost")); !errors.Is(err, boom) {
		t.Fatalf("Publish during a failing fsync = %v, want %v", err, boom)
	}
	fs.Inject(nil)
	if err := q.Publish(context.Background(), NewMessage("after")); err == nil {
		t.Fatal("Publish after a failed fsync succeeded")
	}
	if st := q.Stats(); st.Published != 1 || st.Ready != 1 {
		t.Fatalf("Stats = %+v, want only the first publish", st)
	}
	b.Close()
	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	if d := receive(t, q); d.Body != "ok" {
		t.Fatalf("got %v, want ok", d.Body)
	}
}

// A write error fails the publish; the log cuts the partial write and
// goes on.
func TestDurableWriteErrorFailsPublish(t *testing.T) {
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, t.TempDir(), withFS(fs))
	q := mustQueue(t, b, "q", Durable())
	boom := errors.New("short")
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite {
			return walfs.Fault{Err: boom, Short: 5}
		}
		return walfs.Fault{}
	})
	if err := q.Publish(context.Background(), NewMessage("x")); !errors.Is(err, boom) {
		t.Fatalf("Publish = %v, want %v", err, boom)
	}
	fs.Inject(nil)
	mustPublish(t, q, NewMessage("y"))
	if d := receive(t, q); d.Body != "y" {
		t.Fatalf("got %v", d.Body)
	}
}

type testCodec struct{ jsonCodec }

func (testCodec) ContentType() string { return "application/x-test" }

// With another codec, a recovered body comes back as []byte, and typed
// handlers decode it with the same codec.
func TestDurableCodec(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, WithDurableCodec(testCodec{}))
	mustPublish(t, mustQueue(t, b, "q", Durable()), NewMessage(order{4, nil}))
	closeTest(t, b)
	b = openTest(t, dir, WithDurableCodec(testCodec{}))
	d := receive(t, mustQueue(t, b, "q", Durable()))
	if _, ok := d.Body.([]byte); !ok {
		t.Fatalf("body %T, want []byte", d.Body)
	}
	if v, err := BodyAs[order](d.Message, WithCodec(testCodec{})); err != nil || v.ID != 4 {
		t.Fatalf("BodyAs = %+v, %v", v, err)
	}
}

// Options that only Open reads are ignored by New, and a bad one fails
// Open with ErrInvalid.
func TestDurableOptions(t *testing.T) {
	newTestBroker(t, WithSync(SyncNever()), WithSkipCorrupt(), WithDurableCodec(nil))
	if b, err := Open(t.TempDir(), WithSync(SyncInterval(0))); !errors.Is(err, ErrInvalid) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Open with SyncInterval(0) = %v, want ErrInvalid", err)
	}
	if _, err := Open(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open(\"\") = %v, want ErrInvalid", err)
	}
	b := openTest(t, t.TempDir(), WithSync(SyncInterval(time.Millisecond)))
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, NewMessage("x"))
	if got := SyncInterval(time.Second).String(); got != "every 1s" {
		t.Fatalf("String = %q", got)
	}
}

// A released delivery's attempt is not counted, after a restart either:
// the message comes back as if it had never been handed out. One handed
// out again after its release and left unsettled counts that delivery.
func TestDurableReleaseNotCountedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	released := mustQueue(t, b, "released", Durable())
	held := mustQueue(t, b, "held", Durable())
	mustPublish(t, released, NewMessage("x"))
	mustPublish(t, held, NewMessage("y"))
	for _, q := range []*Queue{released, released, held} {
		if err := receive(t, q).Release(); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	if d := receive(t, held); d.Attempt != 1 {
		t.Fatalf("delivery after a release: attempt %d, want 1", d.Attempt)
	} // and left unsettled
	closeTest(t, b)

	b = openTest(t, dir)
	for name, want := range map[string]int{"released": 1, "held": 2} {
		d := receive(t, mustQueue(t, b, name, Durable()))
		if d.Attempt != want {
			t.Errorf("queue %q after a restart: attempt %d, want %d", name, d.Attempt, want)
		}
		d.Ack()
	}
}

// A durable topic's group does the same: a released delivery is not
// counted after a restart.
func TestDurableGroupReleaseNotCountedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	g := mustSubscribe(t, mustTopic(t, b, "t", Durable()), WithGroup("g"))
	if err := mustTopic(t, b, "t", Durable()).Publish(context.Background(), NewMessage("x")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := subReceive(t, g).Release(); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	closeTest(t, b)

	b = openTest(t, dir)
	g = mustSubscribe(t, mustTopic(t, b, "t", Durable()), WithGroup("g"))
	if d := subReceive(t, g); d.Attempt != 1 {
		t.Errorf("group after a restart: attempt %d, want 1", d.Attempt)
	}
}

// Release, then Nack, then restart; and Releases across compactions (a
// small segment size, many messages through the log): the attempts after
// a restart count every delivery but the released ones.
func TestDurableReleaseThenNackAndCompaction(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, withSegmentSize(4096))
	q := mustQueue(t, b, "q", Durable())
	churn := mustQueue(t, b, "churn", Durable())
	mustPublish(t, q, NewMessage("x"))
	for i := range 300 {
		if err := receive(t, q).Release(); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, churn, NewMessage(fmt.Sprint("filler ", i, " ", string(make([]byte, 100)))))
		receive(t, churn).Ack()
	}
	if b.dur.copied.Load() == 0 {
		t.Fatal("no record was copied forward: the test did not compact")
	}
	d := receive(t, q)
	if d.Attempt != 1 {
		t.Fatalf("attempt %d after releases, want 1", d.Attempt)
	}
	if err := d.Nack(); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, q); d.Attempt != 2 {
		t.Fatalf("attempt %d after a nack, want 2", d.Attempt)
	} // left unsettled
	closeTest(t, b)
	b = openTest(t, dir, withSegmentSize(4096))
	if d := receive(t, mustQueue(t, b, "q", Durable())); d.Attempt != 3 {
		t.Fatalf("attempt %d after a restart, want 3", d.Attempt)
	}
}

func TestDurableGroupReleaseAcrossCompaction(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, withSegmentSize(4096))
	tp := mustTopic(t, b, "t", Durable())
	g := mustSubscribe(t, tp, WithGroup("g"))
	churn := mustQueue(t, b, "churn", Durable())
	if err := tp.Publish(context.Background(), NewMessage("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if err := subReceive(t, g).Release(); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, churn, NewMessage(fmt.Sprint("filler ", i, " ", string(make([]byte, 100)))))
		receive(t, churn).Ack()
	}
	if b.dur.copied.Load() == 0 {
		t.Fatal("no record was copied forward: the test did not compact")
	}
	d := subReceive(t, g)
	if d.Attempt != 1 {
		t.Fatalf("attempt %d after releases, want 1", d.Attempt)
	}
	if err := d.Nack(); err != nil {
		t.Fatal(err)
	}
	if d := subReceive(t, g); d.Attempt != 2 {
		t.Fatalf("attempt %d after a nack, want 2", d.Attempt)
	} else if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	closeTest(t, b)
	b = openTest(t, dir, withSegmentSize(4096))
	g = mustSubscribe(t, mustTopic(t, b, "t", Durable()), WithGroup("g"))
	if d := subReceive(t, g); d.Attempt != 2 {
		t.Fatalf("attempt %d after a restart, want 2", d.Attempt)
	}
}
