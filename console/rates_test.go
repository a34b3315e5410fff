package console

import (
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		mustTopic(t, b, "t")
		h := Handler(b)
		state := func() stateView { return decode[stateView](t, call(t, h, "GET", "/api/state", ""), http.StatusOK) }

		if st := state(); st.Overview.RateWindow != 0 {
			t.Fatalf("rate window %v on the first look", st.Overview.RateWindow)
		}
		// 10 publishes a second to the queue, 4 to the topic; 5 acks a second.
		for range 30 {
			time.Sleep(time.Second)
			for range 10 {
				publish(t, b, "q", herald.NewMessage(1))
			}
			for range 4 {
				publish(t, b, "t", herald.NewMessage(1))
			}
			for range 5 {
				d, err := q.Receive(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				d.Ack()
			}
			state()
		}
		st := state()
		o := st.Overview
		if o.RateWindow != 30 || !near(o.Rates.Publish, 14) || !near(o.Rates.Deliver, 5) || !near(o.Rates.Ack, 5) {
			t.Fatalf("after 30s: window %vs, rates %+v; want 30s, 14 publish, 5 deliver, 5 ack", o.RateWindow, o.Rates)
		}
		if r := st.Queues[0].Rates; !near(r.Publish, 10) || !near(r.Ack, 5) {
			t.Fatalf("queue rates %+v", r)
		}
		if r := st.Topics[0].Rates; !near(r.Publish, 4) {
			t.Fatalf("topic rates %+v", r)
		}
		if len(o.Series) != 30 || !near(o.Series[0].Publish, 14) || o.Series[29].Ago != 0 {
			t.Fatalf("series %+v", o.Series)
		}

		// The window slides: after 60 more quiet seconds, only those count.
		for range 60 {
			time.Sleep(time.Second)
			state()
		}
		if o := state().Overview; o.RateWindow != 60 || o.Rates.Publish != 0 {
			t.Fatalf("after a quiet minute: window %v, rates %+v", o.RateWindow, o.Rates)
		}

		// Nobody looks for IdleAfter: the samples are dropped.
		time.Sleep(IdleAfter)
		synctest.Wait() // the timer that forgets fires now too
		h.(*handler).rates.mu.Lock()
		n := len(h.(*handler).rates.samples)
		h.(*handler).rates.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d samples kept after nobody looked for %v", n, IdleAfter)
		}
		if o := state().Overview; o.RateWindow != 0 {
			t.Fatalf("rate window %v after a pause, want 0: old samples say nothing of now", o.RateWindow)
		}
	})
}

func TestRatesBoundedSamples(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		h := Handler(b).(*handler)
		for range 700 { // a page polling every 100ms for 70s
			time.Sleep(100 * time.Millisecond)
			call(t, h, "GET", "/api/overview", "")
		}
		h.rates.mu.Lock()
		n := len(h.rates.samples)
		h.rates.mu.Unlock()
		if limit := int(rateWindow/sampleGap) + 1; n > limit {
			t.Fatalf("%d samples kept, want at most %d", n, limit)
		}
	})
}

func TestRateOfFallingCount(t *testing.T) {
	// A closed subscription takes its counts with it: no negative rate.
	r := rateOf(counters{published: 10, delivered: 10, acked: 10}, counters{published: 20, delivered: 5, acked: 5}, 2*time.Second)
	if r != (rates{Publish: 5}) {
		t.Fatalf("rates %+v", r)
	}
}
