package benchmarks

import (
	"sync"
	"testing"

	"github.com/heraldmq/herald"
)

// The baseline: buffered Go channels of capacity 1024 carrying the same
// *herald.Message that herald is given, so that allocs/msg above the
// channel's are a peer's own. A channel has no ack, no routing and no
// reply address: these are the least a program can do.

func chan1to1(b *testing.B) {
	ch := make(chan *herald.Message, capacity)
	c := newCounter(b.N)
	go func() {
		for range ch {
			c.add()
		}
	}()
	b.ResetTimer()
	for range b.N {
		ch <- &herald.Message{Body: body}
	}
	c.wait(b, nil)
	b.StopTimer()
	close(ch)
	c.check(b, "consumer")
}

func chan4to4(b *testing.B) {
	ch := make(chan *herald.Message, capacity)
	c := newCounter(b.N)
	var cons sync.WaitGroup
	for range consumers {
		cons.Go(func() {
			for range ch {
				c.add()
			}
		})
	}
	b.ResetTimer()
	var prod sync.WaitGroup
	for p := range producers {
		prod.Go(func() {
			for range share(b.N, p) {
				ch <- &herald.Message{Body: body}
			}
		})
	}
	prod.Wait()
	c.wait(b, nil)
	b.StopTimer()
	close(ch)
	cons.Wait()
	c.check(b, "consumers")
}

// chanFanout sends each message down eight channels, one per subscriber.
func chanFanout(b *testing.B) {
	chans := make([]chan *herald.Message, subscribers)
	cs := make([]*counter, subscribers)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan *herald.Message, capacity)
		cs[i] = newCounter(b.N)
		wg.Go(func() {
			for range chans[i] {
				cs[i].add()
			}
		})
	}
	b.ResetTimer()
	for range b.N {
		m := &herald.Message{Body: body}
		for _, ch := range chans {
			ch <- m
		}
	}
	waitAll(b, cs, nil)
	b.StopTimer()
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	checkAll(b, cs)
}

// chanReqReply is a round trip through a pair of channels.
func chanReqReply(b *testing.B) {
	req := make(chan *herald.Message, capacity)
	resp := make(chan *herald.Message, capacity)
	go func() {
		for m := range req {
			resp <- &herald.Message{Body: m.Body, CorrelationID: m.CorrelationID}
		}
	}()
	b.ResetTimer()
	for range b.N {
		req <- &herald.Message{Body: body}
		if m := <-resp; m.Body != body {
			b.Fatal("wrong reply")
		}
	}
	b.StopTimer()
	close(req)
}

// chanRoute is the baseline of routing: the producer already holds the one
// channel its key leads to, so nothing is matched.
func chanRoute(b *testing.B) {
	ch := make(chan *herald.Message, capacity)
	c := newCounter(b.N)
	go func() {
		for range ch {
			c.add()
		}
	}()
	b.ResetTimer()
	for range b.N {
		ch <- &herald.Message{Key: routeKey, Body: body}
	}
	c.wait(b, nil)
	b.StopTimer()
	close(ch)
	c.check(b, "consumer")
}
