package benchmarks

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPeers runs the same workloads on herald and on each peer, named
// BenchmarkPeers/<workload>/<peer> so that cmd/peertable can group them.
// An op, and a msg in the ns/msg metric, is one message published and
// received by every consumer it is meant for (all 8 for fanout8), or one
// request answered for reqreply. The timer stops only once every message
// has been counted at its consumers, and a count that differs from what was
// sent fails the run. A peer a workload does not fit is skipped with a
// message starting "n/a:"; one that lost messages by design is skipped with
// one starting "dropped:".
func BenchmarkPeers(b *testing.B) {
	for _, w := range workloads {
		for _, p := range peers {
			run, ok := w.peers[p]
			b.Run(w.name+"/"+p, func(b *testing.B) {
				if !ok {
					b.Skip("n/a: " + w.na[p])
				}
				b.ReportAllocs()
				run(b)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
			})
		}
	}
}

// peers in the order of the table's columns.
var peers = []string{"chan", "herald", "watermill", "nats", "eventbus"}

type workload struct {
	name  string
	peers map[string]func(*testing.B)
	na    map[string]string // why a peer is not run
}

var workloads = []workload{
	{
		name: "1to1",
		peers: map[string]func(*testing.B){
			"chan": chan1to1, "herald": herald1to1, "watermill": watermill1to1,
			"nats": nats1to1, "eventbus": eventbus1to1,
		},
	},
	{
		name: "4to4",
		peers: map[string]func(*testing.B){
			"chan": chan4to4, "herald": herald4to4, "nats": nats4to4,
		},
		na: map[string]string{
			"watermill": "GoChannel has no competing consumers: every subscriber gets every message",
			"eventbus":  "EventBus has no competing consumers: every handler gets every event",
		},
	},
	{
		name: "fanout8",
		peers: map[string]func(*testing.B){
			"chan": chanFanout, "herald": heraldFanout, "watermill": watermillFanout,
			"nats": natsFanout, "eventbus": eventbusFanout,
		},
	},
	{
		name: "reqreply",
		peers: map[string]func(*testing.B){
			"chan": chanReqReply, "herald": heraldReqReply, "watermill": watermillReqReply,
			"nats": natsReqReply, "eventbus": eventbusReqReply,
		},
	},
	{
		name: "route100",
		peers: map[string]func(*testing.B){
			"chan": chanRoute, "herald": heraldRoute, "nats": natsRoute,
		},
		na: map[string]string{
			"watermill": "GoChannel matches exact topic names only, no patterns",
			"eventbus":  "EventBus matches exact topic names only, no patterns",
		},
	},
}

const (
	// capacity bounds every peer's buffer that can be bounded: the
	// channels, herald's queues and topics, Watermill's output channels.
	capacity = 1024
	// producers and consumers of the 4to4 workload.
	producers, consumers = 4, 4
	// subscribers of the fanout8 workload.
	subscribers = 8
	// timeout bounds the wait for the last message: far above any
	// plausible run, so that a lost message fails instead of hanging.
	timeout = time.Minute
)

// body is what the Go-value peers (chan, herald, EventBus) carry: a
// pointer, so boxing it allocates nothing. payload is what the byte peers
// (Watermill, NATS) carry, shared by every message.
var (
	body    = &struct{ n int }{}
	payload = []byte("herald!!")
)

// share is how many of n messages producer p of producers sends.
func share(n, p int) int {
	s := n / producers
	if p == 0 {
		s += n % producers
	}
	return s
}

// counter counts the messages a consumer, or a group of consumers, got.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newCounter(want int) *counter {
	return &counter{want: int64(want), done: make(chan struct{})}
}

func (c *counter) add() {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}

// wait blocks until c has counted all it wants. It skips the benchmark as
// "dropped:" when a message comes on drops first, and fails it after timeout.
func (c *counter) wait(b testing.TB, drops <-chan string) {
	b.Helper()
	select {
	case <-c.done:
	case why := <-drops:
		b.Skipf("dropped: %s (%d of %d received)", why, c.n.Load(), c.want)
	case <-time.After(timeout):
		b.Fatalf("received %d of %d messages in %v", c.n.Load(), c.want, timeout)
	}
}

// check fails the benchmark unless c counted exactly what it wanted; call
// it after the consumers have stopped, so that duplicates show.
func (c *counter) check(b testing.TB, who string) {
	b.Helper()
	if got := c.n.Load(); got != c.want {
		b.Fatalf("%s received %d messages, want %d", who, got, c.want)
	}
}

func waitAll(b *testing.B, cs []*counter, drops <-chan string) {
	b.Helper()
	for _, c := range cs {
		c.wait(b, drops)
	}
}

func checkAll(b *testing.B, cs []*counter) {
	b.Helper()
	for i, c := range cs {
		c.check(b, fmt.Sprintf("subscriber %d", i))
	}
}

// The routing workload: 100 bindings, or subscriptions, of which routeKey
// matches exactly one, routePattern(40). The patterns mix literals,
// one-word and multi-word wildcards; NATS has no leading multi-word
// wildcard, so its fourth kind uses two one-word ones instead.
const routeKey = "orders.eu.42.created"

func routePattern(i int, nats bool) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("orders.eu.%d.created", i+2) // routeKey when i == 40
	case 1:
		return fmt.Sprintf("orders.*.%d.updated", i)
	case 2:
		if nats {
			return fmt.Sprintf("audit.%d.>", i)
		}
		return fmt.Sprintf("audit.%d.#", i)
	default:
		if nats {
			return fmt.Sprintf("*.*.%d.deleted", i)
		}
		return fmt.Sprintf("#.%d.deleted", i)
	}
}
