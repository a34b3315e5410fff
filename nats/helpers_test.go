package heraldnats_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// testServer is a real nats-server with JetStream, in this process, on a
// random loopback port, storing in a directory of the test's.
type testServer struct {
	t    testing.TB
	dir  string
	port int
	ns   *server.Server
}

// startServer starts a server that is shut down when the test ends.
func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir(), port: -1}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() {
	s.t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port,
		JetStream: true, StoreDir: s.dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats-server not ready")
	}
	s.ns = ns
	s.port = ns.Addr().(*net.TCPAddr).Port
}

// stop shuts the server down and waits until it has.
func (s *testServer) stop() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.ns = nil
	}
}

func (s *testServer) url() string { return s.ns.ClientURL() }

// leakChecked holds the tests whose first broker checks for leaks; see
// newBroker.
var leakChecked sync.Map

// newBroker returns a broker closed when the test ends, after which the
// test fails if a goroutine of herald, of the bridge or of the NATS client
// is left: every test that makes one checks for leaks. The check runs once
// per test, in the cleanup of its first broker, which runs after every
// later one's, so that no broker of the test is still open then.
func newBroker(t testing.TB, opts ...herald.Option) *herald.Broker {
	t.Helper()
	b := herald.New(opts...)
	if _, later := leakChecked.LoadOrStore(t, struct{}{}); later {
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Cleanup(func() {
		leakChecked.Delete(t)
		b.Close()
		if leaked := findLeaks(3 * time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutine(s) of herald or NATS left:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
	return b
}

// connect returns a bridge for b to s, closed when the test ends (before
// the broker and the server: cleanups run last-registered first).
func connect(t testing.TB, b *herald.Broker, s *testServer, opts ...heraldnats.Option) *heraldnats.Bridge {
	t.Helper()
	opts = append([]heraldnats.Option{heraldnats.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	br, err := heraldnats.Connect(b, s.url(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	return br
}

// createStream declares a file-stored stream with a duplicate window.
func createStream(t testing.TB, js jetstream.JetStream, name string, subjects ...string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: subjects, Storage: jetstream.FileStorage, Duplicates: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// streamMsgs returns how many messages the stream holds.
func streamMsgs(t testing.TB, st jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func mustQueue(t testing.TB, b *herald.Broker, name string, opts ...herald.QueueOption) *herald.Queue {
	t.Helper()
	q, err := b.Queue(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor waits until cond holds, checking it every few milliseconds, or
// fails the test after timeout. It is for conditions that only a counter
// shows (a route's Stats); events that come on a channel are waited on.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// leakMarkers are the code whose goroutines must be gone after Close: herald
// (the bridge included) and the NATS client. The server is the test's.
var leakMarkers = []string{"github.com/heraldmq/herald", "github.com/nats-io/nats.go"}

// findLeaks returns the stacks of goroutines running herald's, the
// bridge's or the NATS client's code, waiting up to timeout for those on
// their way out.
func findLeaks(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		leaked := scanGoroutines()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		// Exiting goroutines need the scheduler to run; polling is the only
		// way to see that from outside them.
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func scanGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaked []string
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i > 0 && isWatched(string(g)) {
			leaked = append(leaked, string(g))
		}
	}
	return leaked
}

func isWatched(stack string) bool {
	for _, line := range strings.Split(stack, "\n") {
		for _, m := range leakMarkers {
			if !strings.HasPrefix(line, m) {
				continue
			}
			// The tests' own code is not what is checked.
			if strings.Contains(line, "_test.") || strings.Contains(line, ".Test") || strings.Contains(line, ".Benchmark") {
				continue
			}
			return true
		}
	}
	return false
}

// request is b.Request: a request to a queue waits for the request
// route's consumer, which starts on a goroutine of its own just after
// ExportRequests returns.
func request(ctx context.Context, b *herald.Broker, name string, m *herald.Message) (*herald.Message, error) {
	return b.Request(ctx, name, m)
}
