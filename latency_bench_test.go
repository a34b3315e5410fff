package herald

import (
	"context"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLatency reports the p50, p99 and p999 latency from just before
// publish to the start of the handler, for a queue (1 producer, 1 consumer)
// and a topic with 8 subscriptions (measured at every one of them), each
// beside the same shape on plain channels.
//
// Under light load one message is in flight at a time: publish, wait until
// it is handled everywhere, repeat, so the latency is that of waking an idle
// consumer. Under heavy load the producer publishes as fast as it can into a
// queue or ring of benchCapacity, so most of the latency is the time spent
// behind up to a full buffer of earlier messages. ns/op is per message: a
// whole round trip when light, the throughput when heavy.
func BenchmarkLatency(b *testing.B) {
	for _, shape := range []struct {
		name string
		subs int // 0: a queue
	}{{"queue", 0}, {"topic8", 8}} {
		for _, load := range []string{"light", "heavy"} {
			heavy := load == "heavy"
			name := shape.name + "/" + load
			b.Run(name+"/chan", func(b *testing.B) { benchLatency(b, heavy, latencyChan(shape.subs)) })
			b.Run(name+"/herald", func(b *testing.B) { benchLatency(b, heavy, latencyHerald(shape.subs)) })
		}
	}
}

// latencyBodies is how many bodies a benchmark cycles through: more than a
// full buffer plus the messages in handlers, so that the publisher never
// rewrites a body a handler may still read.
const latencyBodies = 4 * benchCapacity

// latencyBody carries a message's publish time, in nanoseconds since
// latencyEpoch on the monotonic clock.
type latencyBody struct{ sent int64 }

var latencyEpoch = time.Now()

func latencyNow() int64 { return int64(time.Since(latencyEpoch)) }

// latencyReceiver is what one consumer records into, owned by its
// goroutine; each is a separate allocation, so receivers share no cache line.
type latencyReceiver struct {
	hist latencyHist
	left int // heavy load: messages still to come
}

// latencyRig starts n consumers that call recv(i, m) for each message m
// the i-th receives, and returns how to publish to them and how to stop
// them. A queue has one consumer, a topic one per subscription.
type latencyRig func(b *testing.B, recv func(i int, m *Message)) (n int, publish func(*Message), stop func())

func latencyChan(subs int) latencyRig {
	return func(b *testing.B, recv func(int, *Message)) (int, func(*Message), func()) {
		chans := make([]chan *Message, max(subs, 1))
		var wg sync.WaitGroup
		for i := range chans {
			chans[i] = make(chan *Message, benchCapacity)
			wg.Go(func() {
				for m := range chans[i] {
					recv(i, m)
				}
			})
		}
		publish := func(m *Message) {
			for _, ch := range chans {
				ch <- m
			}
		}
		stop := func() {
			for _, ch := range chans {
				close(ch)
			}
			wg.Wait()
		}
		return len(chans), publish, stop
	}
}

func latencyHerald(subs int) latencyRig {
	return func(b *testing.B, recv func(int, *Message)) (int, func(*Message), func()) {
		br := New()
		ctx := context.Background()
		var stops []func()
		var publish func(*Message)
		if subs == 0 {
			q, _ := br.Queue("bench", WithCapacity(benchCapacity))
			stops = append(stops, consumeN(b, q, func(ctx context.Context, d *Delivery) error {
				recv(0, d.Message)
				return nil
			}))
			publish = func(m *Message) { q.Publish(ctx, m) }
		} else {
			t, _ := br.Topic("bench", WithCapacity(benchCapacity))
			for i := range subs {
				sub, _ := t.Subscribe()
				stops = append(stops, consumeN(b, subSource{sub}, func(ctx context.Context, d *Delivery) error {
					recv(i, d.Message)
					return nil
				}))
			}
			publish = func(m *Message) { t.Publish(ctx, m) }
		}
		stop := func() {
			for _, s := range stops {
				s()
			}
			br.Close()
		}
		return max(subs, 1), publish, stop
	}
}

func benchLatency(b *testing.B, heavy bool, rig latencyRig) {
	b.ReportAllocs()
	bodies := make([]latencyBody, latencyBodies)
	var (
		recvs   []*latencyReceiver
		pending atomic.Int64 // light load: receivers yet to handle the message in flight
		handled = make(chan struct{}, 1)
		wg      sync.WaitGroup // heavy load: receivers yet to handle all b.N
	)
	n, publish, stop := rig(b, func(i int, m *Message) {
		r := recvs[i]
		r.hist.record(latencyNow() - m.Body.(*latencyBody).sent)
		if heavy {
			if r.left--; r.left == 0 {
				wg.Done()
			}
		} else if pending.Add(-1) == 0 {
			handled <- struct{}{}
		}
	})
	// recvs is filled before the first publish, which every receive
	// happens after.
	recvs = make([]*latencyReceiver, n)
	for i := range recvs {
		recvs[i] = &latencyReceiver{left: b.N}
	}
	wg.Add(n)
	defer stop()

	b.ResetTimer()
	for i := range b.N {
		body := &bodies[i%latencyBodies]
		if !heavy {
			pending.Store(int64(n))
		}
		body.sent = latencyNow()
		publish(&Message{Body: body})
		if !heavy {
			<-handled
		}
	}
	if heavy {
		wg.Wait()
	}
	b.StopTimer()

	all := recvs[0].hist
	for _, r := range recvs[1:] {
		all.merge(&r.hist)
	}
	b.ReportMetric(all.quantile(0.50), "p50-ns")
	b.ReportMetric(all.quantile(0.99), "p99-ns")
	b.ReportMetric(all.quantile(0.999), "p999-ns")
}

// latencyHist is a log-linear histogram of nanoseconds: exact below
// 2×latencySub, then latencySub buckets per power of two, so a bucket's
// midpoint is within 1/(2×latencySub) (about 1.6%) of any value in it.
// Recording is a few instructions and allocates nothing.
type latencyHist struct {
	counts [(65 - latencySubBits) << latencySubBits]uint64
	total  uint64
}

const (
	latencySubBits = 5
	latencySub     = 1 << latencySubBits
)

func (h *latencyHist) record(ns int64) {
	v := uint64(max(ns, 0))
	i := v
	if v >= 2*latencySub {
		shift := uint64(bits.Len64(v)) - latencySubBits - 1
		i = shift<<latencySubBits + v>>shift
	}
	h.counts[i]++
	h.total++
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the midpoint of the bucket holding the q-quantile, by
// nearest rank: the smallest value at least a fraction q of all are at or
// below.
func (h *latencyHist) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			if i < 2*latencySub {
				return float64(i)
			}
			shift := uint(i>>latencySubBits) - 1
			low := uint64(latencySub+i%latencySub) << shift
			return float64(low) + float64(uint64(1)<<shift)/2
		}
	}
	panic("unreachable")
}

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for v := range int64(100_000) {
		h.record(v + 1)
	}
	h.record(-5)            // a clock step backwards counts as 0
	h.record(math.MaxInt64) // the top bucket exists
	for _, c := range []struct{ q, want float64 }{
		{0.01, 1_000}, {0.5, 50_000}, {0.99, 99_000}, {0.999, 99_900},
	} {
		got := h.quantile(c.q)
		if math.Abs(got-c.want)/c.want > 1.0/latencySub {
			t.Errorf("quantile(%v) = %v, want %v within %.1f%%", c.q, got, c.want, 100.0/latencySub)
		}
	}
	if got := h.quantile(0); got != 0 {
		t.Errorf("quantile(0) = %v, want 0", got)
	}
	if got := h.quantile(1); got < 1e18 {
		t.Errorf("quantile(1) = %v, want the top bucket", got)
	}
	var small latencyHist
	for v := range int64(2 * latencySub) {
		small.record(v)
	}
	if got := small.quantile(0.5); got != latencySub-1 {
		t.Errorf("small values: quantile(0.5) = %v, want %d exactly", got, latencySub-1)
	}
}
