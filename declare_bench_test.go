package herald

import (
	"fmt"
	"testing"
	"time"
)

// Declaring and binding must cost about the same per call however many
// queues and bindings there already are. Each benchmark reports the cost
// per declare or bind ("ns/declare", "ns/bind") at two sizes: close to
// linear means the two figures are close.

func BenchmarkDeclareQueues(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint("queues=", n), func(b *testing.B) {
			b.ReportAllocs()
			names := benchNames("q.", n)
			var spent time.Duration
			for range b.N {
				br := New()
				start := time.Now()
				for _, name := range names {
					if _, err := br.Queue(name); err != nil {
						b.Fatal(err)
					}
				}
				spent += time.Since(start)
				br.Close()
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*n), "ns/declare")
		})
	}
}

func BenchmarkBindQueues(b *testing.B) {
	for _, kind := range []ExchangeKind{TopicExchange, DirectExchange} {
		for _, n := range []int{1_000, 10_000} {
			b.Run(fmt.Sprintf("%v/bindings=%d", kind, n), func(b *testing.B) {
				b.ReportAllocs()
				names := benchNames("q.", n)
				var spent time.Duration
				for range b.N {
					br := New()
					x, _ := br.Exchange("x", kind)
					for _, name := range names {
						br.Queue(name)
					}
					start := time.Now()
					for i, name := range names {
						if err := x.Bind(name, fmt.Sprintf("orders.%d.*", i)); err != nil {
							b.Fatal(err)
						}
					}
					spent += time.Since(start)
					br.Close()
				}
				b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*n), "ns/bind")
			})
		}
	}
}

// Many patterns bound to one queue, as a consumer interested in many
// keys binds them.
func BenchmarkBindPatternsToOneQueue(b *testing.B) {
	for _, n := range []int{400, 4_000} {
		b.Run(fmt.Sprint("patterns=", n), func(b *testing.B) {
			b.ReportAllocs()
			var spent time.Duration
			for range b.N {
				br := New()
				x, _ := br.Exchange("x", TopicExchange)
				br.Queue("q")
				start := time.Now()
				for i := range n {
					if err := x.Bind("q", fmt.Sprintf("region.%d.#", i)); err != nil {
						b.Fatal(err)
					}
				}
				spent += time.Since(start)
				br.Close()
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*n), "ns/bind")
		})
	}
}

func benchNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint(prefix, i)
	}
	return names
}
