package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

// BenchmarkDurable measures durable publish → consume → ack throughput,
// the target of DESIGN.md's "durable queue, sync always" row, against the
// physical limit and against embedded NATS JetStream, in one run. Its
// benchmarks are named BenchmarkDurable/<side>/<producers>, producers 1 or
// 4, so that cmd/durabletable can line them up:
//
//   - raw-fsync: the limit, no broker: each append of a record (a 16-byte
//     header and the 1 KiB body) is written to a file and fsynced before
//     the next; with 4 producers they take turns under a mutex, one fsync
//     per append.
//   - raw-group: the same records, but concurrent producers share an
//     fsync (group commit): the fair raw rate for 4 producers. With 1
//     producer it is raw-fsync plus the cost of the grouping.
//   - jetstream: NATS JetStream embedded in the process, a file-store
//     stream with sync always and JetStream's default (limits) retention,
//     synchronous publishes that wait for their PubAck, a pull consumer
//     that acks each message.
//   - jetstream-wq: the same with work-queue retention, which removes each
//     message once acked, as a queue does, at the cost of a second fsync.
//   - memory: a herald queue made with New, nothing on disk: the floor a
//     durable queue with sync never is compared with.
//   - herald: a durable herald queue (herald.Open, herald.Durable) with the
//     default policy, sync always.
//
// Every side moves the same bodies: 1 KiB, one shared slice. An op, and a
// msg in the ns/msg and msgs/s metrics, is one message published and, but
// for the raw sides, received and acked; the timer stops only when every
// message has been counted at the consumer, and a count that differs from
// what was sent fails the run. The raw sides have no consumer: they are the
// appends a durable publish cannot avoid. Each run has a fresh directory
// from b.TempDir, so every side writes to the same file system.
//
// A disk's fsync latency drifts several-fold within seconds on a shared
// machine, so sides timed one after the other compare badly. The
// BenchmarkDurable/alternate/<producers> benchmarks run every side at once,
// in turns of durableBlock messages each, in an order shuffled every round
// (with a fixed seed) so that what a side leaves running after its turn
// falls on each of the others alike, until each has moved b.N messages;
// they report each side's ns/msg as "<side>-ns/msg", and their ns/op is
// the sum: one message on every side.
// cmd/durabletable compares the sides within each run of these.
func BenchmarkDurable(b *testing.B) {
	for _, p := range []int{1, producers} {
		for _, side := range durableSides {
			b.Run(fmt.Sprintf("%s/%d", side.name, p), func(b *testing.B) {
				b.ReportAllocs()
				s := side.open(b, b.TempDir(), p)
				b.ResetTimer()
				s.move(b, b.N)
				b.StopTimer()
				s.close(b)
				perMsg := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(perMsg, "ns/msg")
				b.ReportMetric(1e9/perMsg, "msgs/s")
				if x, ok := recordsPerFsync(s); ok {
					b.ReportMetric(x, "rec/fsync")
				}
			})
		}
	}
	for _, p := range []int{1, producers} {
		b.Run(fmt.Sprintf("alternate/%d", p), func(b *testing.B) {
			b.ReportAllocs()
			sessions := make([]durableSession, len(durableSides))
			for i, side := range durableSides {
				sessions[i] = side.open(b, b.TempDir(), p)
			}
			spent := make([]time.Duration, len(sessions))
			order := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(durableBlock, b.N-done)
				for _, i := range order.Perm(len(sessions)) {
					start := time.Now()
					sessions[i].move(b, k)
					spent[i] += time.Since(start)
				}
				done += k
			}
			b.StopTimer()
			for i, s := range sessions {
				s.close(b)
				b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), durableSides[i].name+"-ns/msg")
				if x, ok := recordsPerFsync(s); ok {
					b.ReportMetric(x, durableSides[i].name+"-rec/fsync")
				}
			}
		})
	}
}

// recordsPerFsync is how many records an fsync of s covered on average, for
// a side that shares fsyncs and says so.
func recordsPerFsync(s durableSession) (float64, bool) {
	g, ok := s.(interface{ recordsPerFsync() (float64, bool) })
	if !ok {
		return 0, false
	}
	return g.recordsPerFsync()
}

// durableBlock is how many messages a side of BenchmarkDurable/alternate
// moves in its turn: with 4 producers, 8 each, enough for group commit to
// work in the middle of a turn; at 1 to 5 ms an fsync, turns of tens of
// milliseconds, shorter than the disk's drift.
const durableBlock = 32

// durableBodySize is the body of every message of BenchmarkDurable: 1 KiB,
// as issue #13 asks.
const durableBodySize = 1024

// durableBody is the body every side carries, shared by every message.
// It is not all zeros, so that nothing along the way could make it cheap.
var durableBody = func() []byte {
	p := make([]byte, durableBodySize)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}()

// A durableSide is one column of the comparison. open starts it with the
// given number of producers, keeping what it writes in dir; what it starts
// is stopped by r's cleanup if close is not reached.
type durableSide struct {
	name string
	open func(r durableRun, dir string, producers int) durableSession
}

// A durableSession is a side, started.
type durableSession interface {
	// move publishes n messages, shared among the producers, and returns
	// once every one has been consumed and acked (for the raw sides,
	// appended and fsynced). It fails r if a publish fails or a message is
	// lost.
	move(r durableRun, n int)
	// close stops the side and fails r unless every message moved was
	// received exactly once.
	close(r durableRun)
}

// durableSides in the order they run, for each number of producers. The
// herald side adds itself (durable_herald_test.go).
var durableSides = []durableSide{
	{"raw-fsync", openRawFsync},
	{"raw-group", openRawGroup},
	{"jetstream", openJetStream},
	{"jetstream-wq", openJetStreamWorkQueue},
	{"memory", openMemory},
}

// A durableRun is a benchmark, or a test that runs a side without timing
// it (testRun).
type durableRun interface {
	testing.TB
	ResetTimer()
	StopTimer()
	ReportMetric(n float64, unit string)
}

// testRun runs a side from a test: it has no timer.
type testRun struct{ *testing.T }

func (testRun) ResetTimer() {}
func (testRun) StopTimer()  {}

func (testRun) ReportMetric(float64, string) {}

// shareOf is how many of n messages producer p of k sends.
func shareOf(n, p, k int) int {
	s := n / k
	if p == 0 {
		s += n % k
	}
	return s
}

// runProducers runs k producers, producer p calling send shareOf(n, p, k)
// times, and waits for them. A send that fails stops its producer and
// fails r.
func runProducers(r durableRun, n, k int, send func(p, i int) error) {
	var wg sync.WaitGroup
	for p := range k {
		wg.Go(func() {
			for i := range shareOf(n, p, k) {
				if err := send(p, i); err != nil {
					r.Errorf("producer %d, message %d: %v", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if r.Failed() {
		r.FailNow()
	}
}

// A tally counts what a consumer receives, across the moves of a session:
// the moves run one at a time, and each waits for a counter of its own.
type tally struct {
	cur   atomic.Pointer[counter]
	total atomic.Int64
}

func (t *tally) add() {
	t.total.Add(1)
	t.cur.Load().add()
}

// last says whether the next message received is the last the current
// move expects. Only the consumer's goroutine may call it.
func (t *tally) last() bool {
	c := t.cur.Load()
	return c.n.Load()+1 == c.want
}

// expect returns the counter of a move of n messages; call it before the
// first of them is published.
func (t *tally) expect(n int) *counter {
	c := newCounter(n)
	t.cur.Store(c)
	return c
}

// check fails r unless the consumer received want messages in all.
func (t *tally) check(r durableRun, want int) {
	r.Helper()
	if got := t.total.Load(); got != int64(want) {
		r.Fatalf("consumer received %d messages, want %d", got, want)
	}
}

// heraldSession is a herald queue with producers publishing the 1 KiB body
// and one Consume handler that counts and acks.
type heraldSession struct {
	q         *herald.Queue
	producers int
	got       tally
	moved     int
	stop      func()
}

// openMemory is the in-memory reference: a queue of a broker made with New.
func openMemory(r durableRun, _ string, producers int) durableSession {
	br := herald.New()
	r.Cleanup(func() { br.Close() })
	q, err := br.Queue("bench", herald.WithCapacity(capacity))
	if err != nil {
		r.Fatal(err)
	}
	return startHerald(r, q, producers)
}

func startHerald(r durableRun, q *herald.Queue, producers int) *heraldSession {
	s := &heraldSession{q: q, producers: producers}
	s.got.expect(0)
	s.stop = consume(q, func(context.Context, *herald.Delivery) error {
		s.got.add()
		return nil
	})
	r.Cleanup(s.stop)
	return s
}

func (s *heraldSession) move(r durableRun, n int) {
	c := s.got.expect(n)
	ctx := context.Background()
	runProducers(r, n, s.producers, func(int, int) error {
		return s.q.Publish(ctx, &herald.Message{Body: durableBody})
	})
	c.wait(r, nil)
	s.moved += n
}

func (s *heraldSession) close(r durableRun) {
	s.stop()
	s.got.check(r, s.moved)
	if st := s.q.Stats(); st.Published != uint64(s.moved) || st.Acked != uint64(s.moved) {
		r.Fatalf("queue stats: %d published, %d acked, want %d of each", st.Published, st.Acked, s.moved)
	}
}

// TestDurable runs every side of BenchmarkDurable once, untimed, so that
// go test -race checks them: each must move all its messages exactly once
// (the raw sides' logs are read back and checked record by record) and leave
// no goroutine running, JetStream's server and clients included.
func TestDurable(t *testing.T) {
	for _, p := range []int{1, producers} {
		for _, s := range durableSides {
			t.Run(fmt.Sprintf("%s/%d", s.name, p), func(t *testing.T) {
				before := goroutines()
				t.Run("moves", func(t *testing.T) {
					r := testRun{t}
					ss := s.open(r, t.TempDir(), p)
					ss.move(r, 101)
					ss.move(r, 7)
					ss.close(r)
				})
				checkGoroutines(t, before)
			})
		}
	}
}

// TestCheckLog shows that the raw sides' check finds a lost, a duplicated
// and a damaged record.
func TestCheckLog(t *testing.T) {
	write := func(recs ...[]byte) string {
		name := filepath.Join(t.TempDir(), "raw.log")
		if err := os.WriteFile(name, slices.Concat(recs...), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	rec := func(p, i int) []byte { return appendRecord(nil, rawSeq(p, i), durableBody) }
	damaged := rec(1, 0)
	damaged[rawHeader+5] ^= 1
	for _, tc := range []struct {
		name string
		recs [][]byte
		want string // in the error; "" for none
	}{
		{"whole", [][]byte{rec(0, 0), rec(1, 0), rec(0, 1)}, ""},
		{"lost", [][]byte{rec(0, 0), rec(1, 0)}, "1 records of producer 0, want 2"},
		{"duplicated", [][]byte{rec(0, 0), rec(1, 0), rec(1, 0), rec(0, 1)}, "record 0 of producer 1"},
		{"damaged", [][]byte{rec(0, 0), damaged, rec(0, 1)}, "CRC mismatch"},
		{"torn", [][]byte{rec(0, 0), rec(1, 0), rec(0, 1)[:20]}, "bad record length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLog(write(tc.recs...), []int{2, 1})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkLog: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkLog: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// goroutines returns the stacks of the running goroutines but the
// caller's, by goroutine id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := map[string]string{}
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller's own
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		gs[id] = g
	}
	return gs
}

// checkGoroutines fails t if goroutines that were not in before are still
// running after a few seconds.
func checkGoroutines(t *testing.T, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var left []string
		for id, g := range goroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutine(s) left running:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		// Exiting goroutines need the scheduler to run; polling is the
		// only way to see them go from outside.
		time.Sleep(wait)
	}
}
