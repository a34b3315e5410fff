package heraldprom

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald"
	"github.com/prometheus/client_golang/prometheus"
)

// events counts what the Observer reports, broker-wide.
type events struct {
	observed atomic.Bool // Observer was called: report these counters

	published, unroutable, delivered          atomic.Uint64
	acked, nacked, rejected, expired, dropped atomic.Uint64
	mu                                        sync.Mutex
	deadLettered, deadLetterFailed            map[string]*atomic.Uint64 // by reason; guarded by mu
	publishDone                               func(error)
}

func (e *events) init() {
	e.deadLettered = map[string]*atomic.Uint64{}
	e.deadLetterFailed = map[string]*atomic.Uint64{}
	e.publishDone = e.done // one func value, so that a publish allocates nothing
	for _, r := range reasons {
		e.byReason(e.deadLettered, r)
		e.byReason(e.deadLetterFailed, r)
	}
}

var (
	published   = desc("herald_messages_published_total", "Messages published by producers (one per publish, however many destinations an exchange routes it to).", nil)
	unroutable  = desc("herald_messages_unroutable_total", "Publishes that an exchange routed nowhere (ErrUnroutable).", nil)
	delivered   = desc("herald_messages_delivered_total", "Deliveries handed to consumers, redeliveries included.", nil)
	acked       = desc("herald_messages_acked_total", "Deliveries acknowledged.", nil)
	nacked      = desc("herald_messages_nacked_total", "Deliveries that failed (nack, handler error, ack timeout).", nil)
	rejected    = desc("herald_messages_rejected_total", "Messages rejected, or failed at the max deliveries.", nil)
	expired     = desc("herald_messages_expired_total", "Messages that expired (TTL, or a topic's max age) before delivery.", nil)
	dropped     = desc("herald_messages_dropped_total", "Messages dropped by an overflow policy or a closed subscription.", nil)
	deadLetters = desc("herald_messages_dead_lettered_total", "Messages published to a dead-letter destination, by why they died.", []string{"reason"})
	deadFailed  = desc("herald_messages_dead_letter_failed_total", "Messages whose dead letter could not be published, by why they died.", []string{"reason"})
)

// Reasons a message dies, reported at zero before any has died so that
// rate() and alerts see the series from the start.
var reasons = []string{herald.ReasonRejected, herald.ReasonDeliveryLimit, herald.ReasonExpired, herald.ReasonMaxLen}

// Observer returns the hooks that count the broker-wide
// herald_messages_*_total counters; give it to herald.New with
// herald.WithObserver. Until it is called, those counters are not
// reported. Its hooks take no lock of herald's and allocate nothing
// per message.
func (c *Collector) Observer() herald.Observer {
	e := &c.events
	e.observed.Store(true)
	return herald.Observer{
		Publish: func(context.Context, herald.PublishInfo) (herald.Headers, func(error)) { return nil, e.publishDone },
		Deliver: func(context.Context, herald.DeliverInfo) { e.delivered.Add(1) },
		End:     e.end,
	}
}

func (e *events) done(err error) {
	switch {
	case err == nil:
		e.published.Add(1)
	case errors.Is(err, herald.ErrUnroutable):
		e.unroutable.Add(1)
	}
}

func (e *events) end(info herald.EndInfo) {
	switch info.Outcome {
	case herald.OutcomeAcked:
		e.acked.Add(1)
	case herald.OutcomeNacked:
		e.nacked.Add(1)
	case herald.OutcomeRejected:
		e.rejected.Add(1)
	case herald.OutcomeExpired:
		e.expired.Add(1)
	case herald.OutcomeDropped:
		e.dropped.Add(1)
	}
	switch {
	case info.DeadLetter != "":
		e.byReason(e.deadLettered, info.Reason).Add(1)
	case info.DeadLetterErr != nil:
		e.byReason(e.deadLetterFailed, info.Reason).Add(1)
	}
}

func (e *events) byReason(m map[string]*atomic.Uint64, reason string) *atomic.Uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := m[reason]
	if n == nil {
		n = new(atomic.Uint64)
		m[reason] = n
	}
	return n
}

func (e *events) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{published, unroutable, delivered, acked, nacked, rejected, expired, dropped, deadLetters, deadFailed} {
		ch <- d
	}
}

func (e *events) collect(ch chan<- prometheus.Metric) {
	if !e.observed.Load() {
		return
	}
	for _, x := range []struct {
		d *prometheus.Desc
		n *atomic.Uint64
	}{
		{published, &e.published}, {unroutable, &e.unroutable}, {delivered, &e.delivered},
		{acked, &e.acked}, {nacked, &e.nacked}, {rejected, &e.rejected}, {expired, &e.expired}, {dropped, &e.dropped},
	} {
		ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.n.Load()))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for reason, n := range e.deadLettered {
		ch <- prometheus.MustNewConstMetric(deadLetters, prometheus.CounterValue, float64(n.Load()), reason)
	}
	for reason, n := range e.deadLetterFailed {
		ch <- prometheus.MustNewConstMetric(deadFailed, prometheus.CounterValue, float64(n.Load()), reason)
	}
}
