package herald

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Open refuses what is not a usable directory with a clear error.
func TestOpenBadDir(t *testing.T) {
	if b, err := Open(""); !errors.Is(err, ErrInvalid) || b != nil {
		t.Fatalf(`Open("") = %v, %v; want ErrInvalid`, b, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(file); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), file) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Open(a file) = %v; want ErrInvalid naming it", err)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root: a directory without permission cannot be tested")
		return
	}
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(locked); err == nil || !errors.Is(err, os.ErrPermission) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Open(read-only dir) = %v; want a permission error", err)
	}
}

// The same directory: a second broker is refused while the first has it,
// and gets it once the first is closed.
func TestOpenSameDirTwice(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	mustPublish(t, mustQueue(t, b, "q", Durable()), NewMessage("m"))
	if b2, err := Open(dir); !errors.Is(err, ErrExists) {
		if b2 != nil {
			b2.Close()
		}
		t.Fatalf("second Open = %v, want ErrExists", err)
	}
	closeTest(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	b = openTest(t, dir)
	if d := receive(t, mustQueue(t, b, "q", Durable())); d.Body != "m" {
		t.Fatalf("got %v", d.Body)
	}
}

// A body too large for a record fails the publish with ErrInvalid; the
// log goes on.
func TestDurableBodyTooLarge(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	tp := mustTopic(t, b, "t", Durable())
	huge := make([]byte, 16<<20)
	if err := q.Publish(context.Background(), NewMessage(huge)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("queue: Publish of 16 MiB = %v, want ErrInvalid", err)
	}
	if err := tp.Publish(context.Background(), NewMessage(huge)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("topic: Publish of 16 MiB = %v, want ErrInvalid", err)
	}
	big := make([]byte, 15<<20) // fits
	mustPublish(t, q, NewMessage(big))
	mustPublish(t, q, NewMessage("after"))
	if st := q.Stats(); st.Published != 2 {
		t.Fatalf("Stats = %+v", st)
	}
	closeTest(t, b)
	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	if d := receive(t, q); len(d.Body.([]byte)) != len(big) {
		t.Fatalf("got %d bytes", len(d.Body.([]byte)))
	}
	if d := receive(t, q); d.Body != "after" {
		t.Fatalf("got %v", d.Body)
	}
	tp = mustTopic(t, b, "t", Durable())
	if st := tp.Stats(); st.Published != 0 {
		t.Fatalf("topic Stats = %+v: the refused publish came back", st)
	}
}

// A body the durable codec cannot encode fails the publish with
// ErrInvalid, and nothing of it is written or kept.
func TestDurableUnencodableBody(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	tp := mustTopic(t, b, "t", Durable())
	s := mustSubscribe(t, tp)
	for _, body := range []any{make(chan int), func() {}} {
		if err := q.Publish(context.Background(), NewMessage(body)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("queue: Publish(%T) = %v, want ErrInvalid", body, err)
		}
		if err := tp.Publish(context.Background(), NewMessage(body)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("topic: Publish(%T) = %v, want ErrInvalid", body, err)
		}
	}
	if st := q.Stats(); st.Published != 0 {
		t.Fatalf("queue Stats = %+v", st)
	}
	if st := tp.Stats(); st.Published != 0 {
		t.Fatalf("topic Stats = %+v: the ring took a publish that failed", st)
	}
	publishTopic(t, tp, "ok")
	if d := subReceive(t, s); d.Seq != 1 {
		t.Fatalf("first good publish has seq %d, want 1", d.Seq)
	}
	s.Close()
	closeTest(t, b)
	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != 1 {
		t.Fatalf("DurableStats = %+v, want only the good publish", st)
	}
}

// Names with odd characters are stored and recovered as they are.
func TestDurableOddNames(t *testing.T) {
	dir := t.TempDir()
	names := []string{"ünïcode.qüeue", "with space", "a/b\\c", strings.Repeat("n", MaxNameLen)}
	b := openTest(t, dir)
	var ok []string
	for _, n := range names {
		q, err := b.Queue(n, Durable())
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Queue(%q) = %v", n, err)
			}
			continue
		}
		ok = append(ok, n)
		mustPublish(t, q, NewMessage(n))
	}
	closeTest(t, b)
	b = openTest(t, dir)
	for _, n := range ok {
		if d := receive(t, mustQueue(t, b, n, Durable())); d.Body != n {
			t.Fatalf("queue %q got %v", n, d.Body)
		}
	}
}

// Close while publishers publish: every Publish that returned nil is
// recovered, none that failed is, and nothing races.
func TestDurableCloseDuringPublishes(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, WithSync(SyncNever()))
	q := mustQueue(t, b, "q", Durable(), WithCapacity(64))
	var mu sync.Mutex
	confirmed := map[string]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range 4 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				body := string(rune('a'+p)) + "-" + strings.Repeat("x", i%7) + string(rune('0'+i%10)) + "-" + itoa(i)
				err := q.Publish(context.Background(), NewMessage(body))
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Publish = %v", err)
					}
					return
				}
				mu.Lock()
				confirmed[body] = true
				mu.Unlock()
			}
		})
	}
	consumed := map[string]bool{}
	close(start)
	for range 100 {
		d := receive(t, q)
		mu.Lock()
		consumed[bodyText(d)] = true
		mu.Unlock()
		d.Ack()
	}
	closeTest(t, b)
	wg.Wait()

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	got := map[string]bool{}
	for q.Len() > 0 {
		d := receive(t, q)
		got[bodyText(d)] = true
		d.Ack()
	}
	for body := range confirmed {
		if !consumed[body] && !got[body] {
			t.Errorf("confirmed %s lost", body)
		}
	}
	for body := range got {
		if !confirmed[body] {
			t.Errorf("%s came back, but its Publish failed", body)
		}
	}
}

// An Opened broker with an interval sync, a topic group and consumers
// leaves no goroutine behind after Close (openTest checks), and Close
// twice is nil.
func TestDurableCloseLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, WithSync(SyncInterval(time.Millisecond)))
	q := mustQueue(t, b, "q", Durable(), WithAckTimeout(time.Hour))
	tp := mustTopic(t, b, "t", Durable())
	g := mustSubscribe(t, tp, WithGroup("g"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handled := make(chan struct{}, 1)
	done := make(chan error, 2)
	go func() {
		done <- q.Consume(ctx, func(context.Context, *Delivery) error { handled <- struct{}{}; return nil })
	}()
	go func() { done <- g.Consume(ctx, func(context.Context, *Delivery) error { return nil }) }()
	mustPublish(t, q, NewMessage("m"))
	publishTopic(t, tp, "e")
	<-handled
	closeTest(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	for range 2 {
		<-done
	}
}
