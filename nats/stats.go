package heraldnats

import "sync/atomic"

// Stats is a snapshot of a route's counters, or of all a bridge's routes
// summed. Each message a route takes ends in exactly one of Acked or Failed
// per attempt; an attempt still in flight is in neither.
type Stats struct {
	// Forwarded counts messages handed on: exports PubAcked by JetStream,
	// imports accepted by herald, requests sent and answered.
	Forwarded uint64
	// Acked counts messages settled as done where they came from: herald
	// deliveries acked after the PubAck (exports, request routes),
	// JetStream messages acked (imports).
	Acked uint64
	// Redelivered counts messages that reached the route again: herald
	// deliveries with Attempt > 1, JetStream messages delivered more than
	// once, and exports sent again after a lost PubAck.
	Redelivered uint64
	// Failed counts hand-offs that failed: herald deliveries nacked or
	// rejected, JetStream messages nakked or terminated, requests answered
	// with an error reply.
	Failed uint64
	// Duplicates counts messages the far side already had: exports whose
	// PubAck says duplicate (the stream's Nats-Msg-Id window), imports
	// herald refused with ErrDuplicate (a destination WithDedup). They are
	// acked, and counted in Forwarded too.
	Duplicates uint64
	// Lag is how many messages wait for the route, at the last look: ready
	// in the herald queue or unread by the subscription (exports and
	// request routes), pending in the JetStream consumer (imports).
	Lag uint64
}

func (s *Stats) add(o Stats) {
	s.Forwarded += o.Forwarded
	s.Acked += o.Acked
	s.Redelivered += o.Redelivered
	s.Failed += o.Failed
	s.Duplicates += o.Duplicates
	s.Lag += o.Lag
}

// counters are a route's live Stats.
type counters struct {
	forwarded, acked, redelivered, failed, duplicates atomic.Uint64
	lag                                               atomic.Uint64 // imports: set from each message's metadata
}

func (c *counters) snapshot() Stats {
	return Stats{
		Forwarded:   c.forwarded.Load(),
		Acked:       c.acked.Load(),
		Redelivered: c.redelivered.Load(),
		Failed:      c.failed.Load(),
		Duplicates:  c.duplicates.Load(),
		Lag:         c.lag.Load(),
	}
}
