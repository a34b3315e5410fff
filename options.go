package herald

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures a [Broker]; pass options to [New].
type Option interface{ applyBroker(*brokerConfig) }

// QueueOption configures a [Queue]; pass options to [Broker.Queue].
type QueueOption interface{ applyQueue(*queueConfig) }

// ConsumeOption configures one consumer; pass options to [Queue.Consume].
type ConsumeOption interface{ applyConsume(*consumeConfig) }

// Overflow is what a queue does with a publish that finds it full.
type Overflow uint8

const (
	// OverflowBlock makes the publisher wait for room, until its context
	// ends or the broker closes. It is the default, as for a Go channel.
	OverflowBlock Overflow = iota
	// OverflowReject makes the publish fail at once with ErrFull.
	OverflowReject
	// OverflowDropOldest makes room by dropping the oldest ready message.
	// The drop is counted in Stats().Dropped and the dropped message is
	// dead-lettered (reason "maxlen") when a dead-letter destination is set.
	OverflowDropOldest
	// OverflowDropNewest drops the message being published; the publish
	// still returns nil. Counted and dead-lettered as for OverflowDropOldest.
	OverflowDropNewest
)

func (o Overflow) String() string {
	switch o {
	case OverflowBlock:
		return "block"
	case OverflowReject:
		return "reject"
	case OverflowDropOldest:
		return "drop-oldest"
	case OverflowDropNewest:
		return "drop-newest"
	}
	return fmt.Sprintf("Overflow(%d)", uint8(o))
}

// Defaults. Each option's doc repeats the one it overrides.
const (
	DefaultCapacity   = 1024
	DefaultBackoffMin = 10 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
)

type brokerConfig struct {
	logger *slog.Logger
}

type queueConfig struct {
	capacity      int
	overflow      Overflow
	maxDeliveries int
	deadLetter    string
	ackTimeout    time.Duration
	ttl           time.Duration
	backoffMin    time.Duration
	backoffMax    time.Duration
}

func defaultQueueConfig() queueConfig {
	return queueConfig{capacity: DefaultCapacity, backoffMin: DefaultBackoffMin, backoffMax: DefaultBackoffMax}
}

func (c *queueConfig) validate(name string) error {
	switch {
	case c.capacity < 1:
		return invalidf("queue %q: capacity %d, want at least 1", name, c.capacity)
	case c.overflow > OverflowDropNewest:
		return invalidf("queue %q: unknown overflow policy %v", name, c.overflow)
	case c.maxDeliveries < 0:
		return invalidf("queue %q: max deliveries %d, want 0 (unlimited) or more", name, c.maxDeliveries)
	case c.ackTimeout < 0:
		return invalidf("queue %q: negative ack timeout %v", name, c.ackTimeout)
	case c.ttl < 0:
		return invalidf("queue %q: negative TTL %v", name, c.ttl)
	case c.backoffMin < 0 || c.backoffMax < c.backoffMin:
		return invalidf("queue %q: back-off %v..%v, want 0 <= min <= max", name, c.backoffMin, c.backoffMax)
	case c.deadLetter == name:
		return invalidf("queue %q: dead-letters to itself", name)
	}
	if c.deadLetter != "" {
		if err := validateName(c.deadLetter); err != nil {
			return fmt.Errorf("queue %q: dead-letter destination: %w", name, err)
		}
	}
	return nil
}

type consumeConfig struct {
	concurrency int
}

// WithLogger makes the broker log through l: dead-letter failures and
// handler panics at Warn, handler errors at Debug. By default herald logs
// nothing. Given twice, the last wins.
func WithLogger(l *slog.Logger) Option { return loggerOption{l} }

type loggerOption struct{ l *slog.Logger }

func (o loggerOption) applyBroker(c *brokerConfig) { c.logger = o.l }

// WithCapacity bounds how many ready messages a queue holds before its
// overflow policy applies. Messages held by consumers (unacked) and
// messages waiting to be redelivered do not count, so a nack never
// overflows. Default DefaultCapacity (1024); must be at least 1. Given
// twice, the last wins.
func WithCapacity(n int) QueueOption { return capacityOption(n) }

type capacityOption int

func (o capacityOption) applyQueue(c *queueConfig) { c.capacity = int(o) }

// WithOverflow sets what a publish to a full queue does; see [Overflow].
// Default OverflowBlock. Given twice, the last wins.
func WithOverflow(p Overflow) QueueOption { return overflowOption(p) }

type overflowOption Overflow

func (o overflowOption) applyQueue(c *queueConfig) { c.overflow = Overflow(o) }

// WithMaxDeliveries dead-letters a message (reason "delivery-limit") instead
// of redelivering it once it has been delivered n times without an ack.
// Default 0: unlimited, with back-off between attempts (see [WithBackoff]).
// Given twice, the last wins.
func WithMaxDeliveries(n int) QueueOption { return maxDeliveriesOption(n) }

type maxDeliveriesOption int

func (o maxDeliveriesOption) applyQueue(c *queueConfig) { c.maxDeliveries = int(o) }

// WithDeadLetter names the queue (later also topic or exchange) that
// receives this queue's rejected, expired, over-delivered and overflow-dropped
// messages, with the HeaderDeath* headers saying where, why and after how
// many attempts. The destination is looked up when a message dies, so it may
// be declared later; a dead letter that cannot be published is counted in
// Stats().DeadLetterFailed and logged. Default: none, and dying messages are
// dropped and counted. Given twice, the last wins.
func WithDeadLetter(dest string) QueueOption { return deadLetterOption(dest) }

type deadLetterOption string

func (o deadLetterOption) applyQueue(c *queueConfig) { c.deadLetter = string(o) }

// WithAckTimeout redelivers a delivery that is not settled within d of being
// handed out, so that a stuck consumer cannot hold a message forever; the
// late consumer's Ack then returns ErrSettled. The redelivery counts as an
// attempt. Default 0: no timeout. Given twice, the last wins.
func WithAckTimeout(d time.Duration) QueueOption { return ackTimeoutOption(d) }

type ackTimeoutOption time.Duration

func (o ackTimeoutOption) applyQueue(c *queueConfig) { c.ackTimeout = time.Duration(o) }

// WithTTL expires messages that stay in the queue longer than d after
// publish; an expired message is never delivered. A message's own TTL
// applies when it is shorter. Default 0: messages never expire. Given
// twice, the last wins.
func WithTTL(d time.Duration) QueueOption { return ttlOption(d) }

type ttlOption time.Duration

func (o ttlOption) applyQueue(c *queueConfig) { c.ttl = time.Duration(o) }

// WithBackoff sets how long a nacked message waits before it is ready
// again: min after the first attempt, doubling with each attempt, never
// more than max. WithBackoff(0, 0) requeues at once. Default
// DefaultBackoffMin (10ms) to DefaultBackoffMax (5s). Given twice, the last
// wins.
func WithBackoff(min, max time.Duration) QueueOption { return backoffOption{min, max} }

type backoffOption struct{ min, max time.Duration }

func (o backoffOption) applyQueue(c *queueConfig) { c.backoffMin, c.backoffMax = o.min, o.max }

// WithConcurrency runs n handler goroutines for one consumer. Default 1;
// must be at least 1. Given twice, the last wins.
func WithConcurrency(n int) ConsumeOption { return concurrencyOption(n) }

type concurrencyOption int

func (o concurrencyOption) applyConsume(c *consumeConfig) { c.concurrency = int(o) }
