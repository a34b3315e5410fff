package heraldnats

import "github.com/heraldmq/herald"

// WithAfterPubAck is for tests: hook runs when an export has the PubAck
// of d, before it acks d in herald; returning false leaves d unsettled, as
// a bridge that crashed at that moment would.
func WithAfterPubAck(hook func(d *herald.Delivery) bool) Option {
	return bridgeOption(func(c *config) { c.afterPubAck = hook })
}

// PendingAcks is for tests: how many imported messages wait for a handler
// under AckWhenHandled.
func (br *Bridge) PendingAcks() int { return br.acks.len() }
