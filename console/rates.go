package console

import (
	"sync"
	"time"
)

// Rates are per-second rates over the sampling window.
type rates struct {
	Publish float64 `json:"publish"`
	Deliver float64 `json:"deliver"`
	Ack     float64 `json:"ack"`
}

// counters are the monotonic counts rates come from.
type counters struct{ published, delivered, acked uint64 }

// sample is the broker's counters at one moment: the totals, and each
// queue's and topic's by name.
type sample struct {
	at    time.Time
	total counters
	each  map[string]counters
}

const (
	// rateWindow is how far back rates look.
	rateWindow = time.Minute
	// sampleGap is the least time between two kept samples, so that a
	// minute holds a bounded number of them however often the API is read.
	sampleGap = 500 * time.Millisecond
)

// sampler keeps the samples of the last minute while someone reads the
// API, and none once nobody has for IdleAfter.
type sampler struct {
	mu      sync.Mutex
	samples []sample // oldest first, none older than rateWindow before the newest
	idle    *time.Timer
}

func newSampler() *sampler { return &sampler{} }

// rateView is what observe tells about rates.
type rateView struct {
	// window is the time the rates are computed over: 0 until two samples
	// are far enough apart.
	window time.Duration
	total  rates
	each   map[string]rates
	series []point // the totals' rates between consecutive samples
}

// point is the totals' rates between two consecutive samples, for the
// page's sparkline; Ago is the later sample's age in seconds.
type point struct {
	Ago float64 `json:"ago"`
	rates
}

// observe adds cur (unless the last sample is too recent) and returns the
// rates from the oldest sample within the window to cur.
func (s *sampler) observe(cur sample) rateView {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.samples); n > 0 && cur.at.Sub(s.samples[n-1].at) > IdleAfter {
		s.samples = nil // nobody was looking: the old samples say nothing of now
	}
	i := 0
	for i < len(s.samples) && cur.at.Sub(s.samples[i].at) > rateWindow {
		i++
	}
	s.samples = s.samples[i:]
	if n := len(s.samples); n == 0 || cur.at.Sub(s.samples[n-1].at) >= sampleGap {
		s.samples = append(s.samples, cur)
	}
	if s.idle == nil {
		s.idle = time.AfterFunc(IdleAfter, s.forget)
	} else {
		s.idle.Reset(IdleAfter)
	}

	v := rateView{each: make(map[string]rates, len(cur.each))}
	base := s.samples[0]
	dt := cur.at.Sub(base.at)
	if dt < sampleGap {
		return v
	}
	v.window = dt
	v.total = rateOf(base.total, cur.total, dt)
	for name, c := range cur.each {
		// A name declared within the window has rates from its first sample.
		for _, old := range s.samples {
			if oc, ok := old.each[name]; ok {
				if d := cur.at.Sub(old.at); d >= sampleGap {
					v.each[name] = rateOf(oc, c, d)
				}
				break
			}
		}
	}
	for k := 1; k < len(s.samples); k++ {
		a, b := s.samples[k-1], s.samples[k]
		v.series = append(v.series, point{Ago: cur.at.Sub(b.at).Seconds(), rates: rateOf(a.total, b.total, b.at.Sub(a.at))})
	}
	return v
}

// forget drops every sample: nobody has read the API for IdleAfter.
func (s *sampler) forget() {
	s.mu.Lock()
	s.samples = nil
	s.mu.Unlock()
}

// rateOf is the per-second rates from a to b, dt apart. A count that went
// down (a subscription closed, taking its counts away) reads 0.
func rateOf(a, b counters, dt time.Duration) rates {
	per := func(x, y uint64) float64 {
		if y < x || dt <= 0 {
			return 0
		}
		return float64(y-x) / dt.Seconds()
	}
	return rates{Publish: per(a.published, b.published), Deliver: per(a.delivered, b.delivered), Ack: per(a.acked, b.acked)}
}
