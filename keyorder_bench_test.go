package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkKeyOrdering is 4 producers to one consumer with 4 handler
// goroutines over 1,000 keys: "unordered" with WithConcurrency(4) alone,
// "keyed" with WithKeyOrdering too. Run rounds of -count 1 and compare
// the two in each round (the target is keyed ≤ 1.3× unordered).
func BenchmarkKeyOrdering(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	for _, keyed := range []bool{false, true} {
		name := "unordered"
		opts := []ConsumeOption{WithConcurrency(4)}
		if keyed {
			name = "keyed"
			opts = append(opts, WithKeyOrdering())
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			br := New()
			defer br.Close()
			q, _ := br.Queue("bench", WithCapacity(benchCapacity))
			defer consumeN(b, q, ackAll, opts...)()
			ctx := context.Background()
			var prod sync.WaitGroup
			for p := range 4 {
				prod.Go(func() {
					for i := range share(b.N, 4, p) {
						q.Publish(ctx, &Message{Key: keys[(i*4+p)%len(keys)], Body: benchBody})
					}
				})
			}
			prod.Wait()
			waitHandled(b, br, uint64(b.N), func() uint64 { return q.Stats().Acked })
		})
	}
}
