package herald

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkDurableVsRaw measures durable Publish under SyncAlways against
// raw fsync'd appends of the same bytes, in alternating blocks of a few
// milliseconds so that the drift of a shared disk's fsync latency falls on
// both alike (as internal/wal's BenchmarkAlwaysVsRaw does). Each op is one
// block: every producer publishes 8 messages with 1 KiB []byte bodies to
// a durable queue that a consumer drains and acks, then a tight loop
// writes and fsyncs 8 buffers of the size of one publish record.
// pct-of-raw is the publish rate as a percentage of the raw append rate.
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench DurableVsRaw -count 1 .; done
func BenchmarkDurableVsRaw(b *testing.B) {
	const block = 8
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("producers-%d", producers), func(b *testing.B) {
			dir := b.TempDir()
			br, err := Open(filepath.Join(dir, "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			q, _ := br.Queue("bench", Durable(), WithCapacity(1<<16))
			stop := consumeN(b, q, func(context.Context, *Delivery) error { return nil })
			defer stop()
			raw, err := os.Create(filepath.Join(dir, "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			body := make([]byte, 1024)
			frame := make([]byte, 12+len(appendPublish(nil, &durableMsg{dest: "bench", m: &Message{ID: nextID(), Time: time.Now()}}, bodyBytes, body)))
			ctx := context.Background()
			var pubTime, rawTime time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				var wg sync.WaitGroup
				for range producers {
					wg.Go(func() {
						for range block {
							if err := q.Publish(ctx, &Message{Body: body}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				pubTime += time.Since(start)
				start = time.Now()
				for range block {
					if _, err := raw.Write(frame); err != nil {
						b.Fatal(err)
					}
					if err := raw.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				rawTime += time.Since(start)
			}
			pubRate := float64(b.N*producers*block) / pubTime.Seconds()
			rawRate := float64(b.N*block) / rawTime.Seconds()
			st := br.DurableStats()
			b.ReportMetric(pubRate, "pub/s")
			b.ReportMetric(rawRate, "raw/s")
			b.ReportMetric(100*pubRate/rawRate, "pct-of-raw")
			b.ReportMetric(float64(b.N*producers*block)/float64(st.Syncs), "pub/fsync")
		})
	}
}

// BenchmarkQueue1to1Opened is BenchmarkQueue1to1 on a queue that is not
// durable, of a broker made with Open: it must cost what it costs on New.
func BenchmarkQueue1to1Opened(b *testing.B) {
	b.Run("new", func(b *testing.B) { benchQueue1to1Herald(b, New()) })
	b.Run("opened", func(b *testing.B) {
		br, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer() // Open's cost is not the queue's
		benchQueue1to1Herald(b, br)
	})
}

// BenchmarkDurableRecover measures Open and the declaration that brings
// b.N messages (64-byte bodies) back into a durable queue: ns/op is per
// message, so the recovery time for a million messages is ns/op in
// milliseconds. disk-B/msg is the log's bytes per message.
//
//	go test -run '^$' -bench DurableRecover -benchtime 200000x .
func BenchmarkDurableRecover(b *testing.B) {
	dir := b.TempDir()
	br, err := Open(dir, WithSync(SyncNever()))
	if err != nil {
		b.Fatal(err)
	}
	q, _ := br.Queue("q", Durable(), WithCapacity(b.N+1))
	body := make([]byte, 64)
	for range b.N {
		if err := q.Publish(context.Background(), &Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	bytes := br.DurableStats().Bytes
	br.Close()
	b.ResetTimer()
	br, err = Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	q, _ = br.Queue("q", Durable(), WithCapacity(b.N+1))
	b.StopTimer()
	if q.Len() != b.N {
		b.Fatalf("recovered %d, want %d", q.Len(), b.N)
	}
	br.Close()
	b.ReportMetric(float64(bytes)/float64(b.N), "disk-B/msg")
}
