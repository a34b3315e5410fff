package heraldnats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The bridge's cost: herald → bridge → JetStream → bridge → herald, against
// a program that uses nats.go's JetStream directly to publish and consume
// the same messages (same payload, same Nats-Msg-Id de-duplication, same
// file-stored stream, a connection for each side, async publishes, a pull
// consumer acking each message). Compare the two in alternating rounds:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench . -count 1 .; done
//
// and take the median of the bridge/natsgo ratios.

var benchPayload = make([]byte, 128)

const benchWindow = 1024 // PubAcks outstanding, both sides

func BenchmarkThroughput(b *testing.B) {
	b.Run("natsgo", func(b *testing.B) { benchNATS(b, false) })
	b.Run("bridge", func(b *testing.B) { benchBridge(b, false) })
}

// Latency: one message at a time, from the publish call to the far
// consumer's handler.
func BenchmarkLatency(b *testing.B) {
	b.Run("natsgo", func(b *testing.B) { benchNATS(b, true) })
	b.Run("bridge", func(b *testing.B) { benchBridge(b, true) })
}

func benchNATS(b *testing.B, oneByOne bool) {
	s := startServer(b)
	pub, err := nats.Connect(s.url())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := nats.Connect(s.url())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	pjs, _ := jetstream.New(pub, jetstream.WithPublishAsyncMaxPending(benchWindow))
	sjs, _ := jetstream.New(sub)
	createStream(b, pjs, "BENCH", "bench.>")
	ctx := testContext(b, 10*time.Minute)
	cons, err := sjs.CreateOrUpdateConsumer(ctx, "BENCH", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, benchWindow)
	it, err := cons.Messages(jetstream.PullMaxMessages(heraldnats.DefaultBatch))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			m.Ack()
			got <- struct{}{}
		}
	}()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	if oneByOne {
		for i := range b.N {
			if _, err := pjs.PublishAsync("bench.x", benchPayload, jetstream.WithMsgID(strconv.Itoa(i)), jetstream.WithStallWait(time.Minute)); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	} else {
		done := make(chan struct{})
		go func() {
			for range b.N {
				<-got
			}
			close(done)
		}()
		for i := range b.N {
			if _, err := pjs.PublishAsync("bench.x", benchPayload, jetstream.WithMsgID(strconv.Itoa(i)), jetstream.WithStallWait(time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	}
	b.StopTimer()
	<-pjs.PublishAsyncComplete()
}

func benchBridge(b *testing.B, oneByOne bool) {
	s := startServer(b)
	b1, b2 := newBroker(b), newBroker(b)
	br1, br2 := connect(b, b1, s), connect(b, b2, s)
	createStream(b, br1.JetStream(), "BENCH", "bench.>")
	ctx := testContext(b, 10*time.Minute)
	mustQueue(b, b1, "out", herald.WithCapacity(4*benchWindow))
	if _, err := br1.Export(heraldnats.FromQueue("out"), "bench.x", heraldnats.WithMaxInFlight(benchWindow)); err != nil {
		b.Fatal(err)
	}
	in := mustQueue(b, b2, "in", herald.WithCapacity(4*benchWindow))
	if _, err := br2.Import(ctx, "BENCH", "c", "in"); err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, benchWindow)
	cctx, stop := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		in.Consume(cctx, func(context.Context, *herald.Delivery) error {
			got <- struct{}{}
			return nil
		})
	}()
	defer func() { stop(); <-consumed }()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	if oneByOne {
		for range b.N {
			if err := b1.Publish(ctx, "out", herald.NewMessage(benchPayload)); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	} else {
		done := make(chan struct{})
		go func() {
			for range b.N {
				<-got
			}
			close(done)
		}()
		for range b.N {
			if err := b1.Publish(ctx, "out", herald.NewMessage(benchPayload)); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	}
	b.StopTimer()
}
