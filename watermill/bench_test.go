package heraldwm_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/heraldmq/herald"
	heraldwm "github.com/heraldmq/herald/watermill"
)

// The benchmarks run Watermill's own subscriber benchmark (publish b.N
// messages on one goroutine, read and ack them on another) on herald and,
// as the baseline, on Watermill's GoChannel, in the same run.

func benchHerald(b *testing.B, cfg heraldwm.SubscriberConfig) {
	tests.BenchSubscriber(b, func(n int) (message.Publisher, message.Subscriber) {
		br := herald.New()
		pub, err := heraldwm.NewPublisher(br, heraldwm.PublisherConfig{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		sub, err := heraldwm.NewSubscriber(br, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = pub.Close()
			_ = sub.Close()
			_ = br.Close()
		})
		return pub, sub
	})
}

func BenchmarkSubscriberHerald(b *testing.B) {
	benchHerald(b, heraldwm.SubscriberConfig{})
}

func BenchmarkSubscriberHeraldGroup(b *testing.B) {
	benchHerald(b, heraldwm.SubscriberConfig{ConsumerGroup: "g"})
}

func BenchmarkSubscriberGoChannel(b *testing.B) {
	tests.BenchSubscriber(b, func(n int) (message.Publisher, message.Subscriber) {
		ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: int64(n)}, watermill.NopLogger{})
		b.Cleanup(func() { _ = ps.Close() })
		return ps, ps
	})
}

func BenchmarkSubscriberGoChannelPersistent(b *testing.B) {
	tests.BenchSubscriber(b, func(n int) (message.Publisher, message.Subscriber) {
		ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: int64(n), Persistent: true}, watermill.NopLogger{})
		b.Cleanup(func() { _ = ps.Close() })
		return ps, ps
	})
}
