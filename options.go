package herald

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures a [Broker]; pass options to [New].
//
// A nil option, of this or any other option type, or a nil [Middleware],
// is bad input, handled the same way everywhere: a call that returns an
// error returns one wrapping ErrInvalid (declaring, subscribing, binding,
// Consume, [BodyAs]), never a panic; the calls that return no error
// ([New], [Typed], [TypedDelivery]) ignore it.
type Option interface{ applyBroker(*brokerConfig) }

// QueueOption configures a [Queue]; pass options to [Broker.Queue].
type QueueOption interface{ applyQueue(*queueConfig) }

// TopicOption configures a [Topic]; pass options to [Broker.Topic].
type TopicOption interface{ applyTopic(*topicConfig) }

// SubscribeOption configures a [Subscription]; pass options to
// [Topic.Subscribe].
type SubscribeOption interface{ applySubscribe(*subscribeConfig) }

// QueueTopicOption configures queues and topics alike.
type QueueTopicOption interface {
	QueueOption
	TopicOption
}

// RedeliveryOption configures how a queue, or a topic subscription,
// redelivers and dead-letters.
type RedeliveryOption interface {
	QueueOption
	SubscribeOption
}

// ExchangeOption configures an [Exchange]; pass options to
// [Broker.Exchange].
type ExchangeOption interface{ applyExchange(*exchangeConfig) }

// BindOption configures one binding; pass options to [Exchange.Bind].
type BindOption interface{ applyBind(*bindConfig) }

// ConsumeOption configures one consumer; pass options to [Queue.Consume]
// or [Subscription.Consume].
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

// String returns the policy's name, such as "drop-oldest".
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
	MaxTopicCapacity  = 1 << 24
	MaxPriorities     = 256
	DefaultBackoffMin = 10 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second

	// MaxConcurrency bounds WithConcurrency: handler goroutines of one
	// consumer. Run several consumers for more.
	MaxConcurrency = 4096
	// MaxPrefetch bounds WithPrefetch: unacked messages one consumer holds.
	MaxPrefetch = 1 << 16
)

type brokerConfig struct {
	logger *slog.Logger

	middleware []Middleware  // WithMiddleware; see middleware.go
	obs        *Observer     // WithObserver; nil: none. See observe.go
	durable    durableConfig // WithSync, WithSkipCorrupt, WithDurableCodec; see durable.go
}

type queueConfig struct {
	queueSettings
	transform Transform
}

// queueSettings are a queue's comparable options: a queue declared again
// must have the same ones (see queueDiff).
type queueSettings struct {
	capacity   int
	overflow   Overflow
	ttl        time.Duration
	priorities int // levels; 1: none
	dedup      time.Duration
	durable    bool // Durable; see durable.go
	// singleActive: WithSingleActiveConsumer; see singleactive.go
	singleActive bool
	redeliveryConfig
}

type redeliveryConfig struct {
	maxDeliveries int
	deadLetter    string
	deadLetterKey string
	replaceKey    bool // false: a dead letter keeps the message's key
	ackTimeout    time.Duration
	backoffMin    time.Duration
	backoffMax    time.Duration
}

func defaultRedelivery() redeliveryConfig {
	return redeliveryConfig{backoffMin: DefaultBackoffMin, backoffMax: DefaultBackoffMax}
}

func defaultQueueConfig() queueConfig {
	return queueConfig{queueSettings: queueSettings{capacity: DefaultCapacity, priorities: 1, redeliveryConfig: defaultRedelivery()}}
}

type topicConfig struct {
	capacity int
	overflow Overflow
	maxAge   time.Duration
	dedup    time.Duration
	durable  bool // Durable; see durable.go
}

func defaultTopicConfig() topicConfig { return topicConfig{capacity: DefaultCapacity} }

func (c *topicConfig) validate(name string) error {
	switch {
	case c.capacity < 1:
		return invalidf("topic %q: capacity %d, want at least 1", name, c.capacity)
	case c.capacity > MaxTopicCapacity:
		return invalidf("topic %q: capacity %d, at most %d", name, c.capacity, MaxTopicCapacity)
	case c.overflow > OverflowDropNewest:
		return invalidf("topic %q: unknown overflow policy %v", name, c.overflow)
	case c.maxAge < 0:
		return invalidf("topic %q: negative max age %v", name, c.maxAge)
	case c.dedup < 0:
		return invalidf("topic %q: negative deduplication window %v", name, c.dedup)
	}
	return nil
}

// Where a subscription starts reading.
type startAt uint8

const (
	startNew startAt = iota // what is published after Subscribe
	startEarliest
	startSeq
	startTime
)

type subscribeConfig struct {
	transform Transform
	start     startAt
	seq       uint64
	time      time.Time
	group     string
	grouped   bool // WithGroup was given, even with an empty name
	redeliveryConfig
}

func (c *subscribeConfig) validate(topic string) error {
	if c.grouped {
		if err := validateName(c.group); err != nil {
			return fmt.Errorf("topic %q: group: %w", topic, err)
		}
	} else if c.ackTimeout > 0 {
		return invalidf("topic %q: an ack timeout needs a group (WithGroup): a plain subscription's deliveries are its own", topic)
	}
	return c.redeliveryConfig.validate(topic)
}

func (c *queueConfig) validate(name string) error {
	switch {
	case c.capacity < 1:
		return invalidf("queue %q: capacity %d, want at least 1", name, c.capacity)
	case c.overflow > OverflowDropNewest:
		return invalidf("queue %q: unknown overflow policy %v", name, c.overflow)
	case c.ttl < 0:
		return invalidf("queue %q: negative TTL %v", name, c.ttl)
	case c.priorities < 1 || c.priorities > MaxPriorities:
		return invalidf("queue %q: %d priority levels, want 1 to %d", name, c.priorities, MaxPriorities)
	case c.dedup < 0:
		return invalidf("queue %q: negative deduplication window %v", name, c.dedup)
	}
	return c.redeliveryConfig.validate(name)
}

func (c *redeliveryConfig) validate(name string) error {
	switch {
	case c.maxDeliveries < 0:
		return invalidf("%q: max deliveries %d, want 0 (unlimited) or more", name, c.maxDeliveries)
	case c.ackTimeout < 0:
		return invalidf("%q: negative ack timeout %v", name, c.ackTimeout)
	case c.backoffMin < 0 || c.backoffMax < c.backoffMin:
		return invalidf("%q: back-off %v..%v, want 0 <= min <= max", name, c.backoffMin, c.backoffMax)
	case c.deadLetter == name:
		return invalidf("%q: dead-letters to itself", name)
	}
	if c.deadLetter != "" {
		if err := validateName(c.deadLetter); err != nil {
			return fmt.Errorf("%q: dead-letter destination: %w", name, err)
		}
	}
	return nil
}

type consumeConfig struct {
	concurrency int
	prefetch    int
	keyOrder    bool // WithKeyOrdering; see keyorder.go

	middleware []Middleware // WithMiddleware; see middleware.go
}

func (c *consumeConfig) validate() error {
	switch {
	case c.concurrency < 1 || c.concurrency > MaxConcurrency:
		return invalidf("concurrency %d, want 1 to %d", c.concurrency, MaxConcurrency)
	case c.prefetch < 0 || c.prefetch > MaxPrefetch:
		return invalidf("prefetch %d, want 0 (the concurrency) to %d", c.prefetch, MaxPrefetch)
	case c.prefetch != 0 && c.prefetch < c.concurrency:
		return invalidf("prefetch %d below concurrency %d: each handler holds a message", c.prefetch, c.concurrency)
	}
	return nil
}

// WithLogger makes the broker log through l: handler panics (with the
// stack), dead-letter failures, lagging subscriptions and deliveries used
// after their handler returned at Warn; handler errors and dropped replies
// at Debug. Default (or l nil): slog.Default(), so that none of these is
// silent; WithLogger(slog.New(slog.DiscardHandler)) silences herald. Given
// twice, the last wins.
func WithLogger(l *slog.Logger) Option { return loggerOption{l} }

type loggerOption struct{ l *slog.Logger }

func (o loggerOption) applyBroker(c *brokerConfig) { c.logger = o.l }

// WithCapacity bounds how many ready messages a queue holds before its
// overflow policy applies. Messages held by consumers (unacked) and
// messages waiting to be redelivered do not count, so a nack never
// overflows.
//
// For a topic it sizes the ring of retained messages, rounded up to a
// power of two: the last n (or more) messages stay readable, and a
// subscription more than that far behind triggers the overflow policy.
//
// Default DefaultCapacity (1024); must be at least 1 (for topics at most
// MaxTopicCapacity). Given twice, the last wins.
func WithCapacity(n int) QueueTopicOption { return capacityOption(n) }

type capacityOption int

func (o capacityOption) applyQueue(c *queueConfig) { c.capacity = int(o) }
func (o capacityOption) applyTopic(c *topicConfig) { c.capacity = int(o) }

// WithOverflow sets what a publish to a full queue does, or, for a topic,
// a publish that would overwrite a message its slowest subscription has
// not read: OverflowBlock waits for it, OverflowDropOldest overwrites and
// lets the subscription lag (it gets a *LagError), OverflowReject fails
// with ErrFull, OverflowDropNewest drops the publish. A topic's groups
// apply the same policy to their own backlog. See [Overflow]. Default
// OverflowBlock. Given twice, the last wins.
func WithOverflow(p Overflow) QueueTopicOption { return overflowOption(p) }

type overflowOption Overflow

func (o overflowOption) applyQueue(c *queueConfig) { c.overflow = Overflow(o) }
func (o overflowOption) applyTopic(c *topicConfig) { c.overflow = Overflow(o) }

// WithMaxDeliveries dead-letters a message (reason "delivery-limit") instead
// of redelivering it once it has been delivered n times without an ack.
// Default 0: unlimited, with back-off between attempts (see [WithBackoff]).
// Given twice, the last wins.
func WithMaxDeliveries(n int) RedeliveryOption { return maxDeliveriesOption(n) }

type maxDeliveriesOption int

func (o maxDeliveriesOption) applyQueue(c *queueConfig)         { c.maxDeliveries = int(o) }
func (o maxDeliveriesOption) applySubscribe(c *subscribeConfig) { c.maxDeliveries = int(o) }

// WithDeadLetter names the queue, topic or exchange that receives this
// queue's (or subscription's) rejected, expired, over-delivered and
// overflow-dropped messages, with the HeaderDeath* headers saying where, why and after how
// many attempts. The destination is looked up when a message dies, so it may
// be declared later; a dead letter that cannot be published is counted in
// Stats().DeadLetterFailed and logged. A consumer that starts while the
// destination is not declared gets it logged, once, as a likely typo. Default: none, and dying messages are
// dropped and counted. Given twice, the last wins.
//
// Dead letters may form cycles (a queue whose dead letters come back to it,
// through other queues or an exchange). A dead letter that would go back to
// a queue where the message expired or was dropped by overflow, with no
// consumer's Reject or max deliveries in between, is dropped instead,
// counted in DeadLetterFailed and logged, as RabbitMQ does (see
// [HeaderDeathPath]); so a retry queue whose TTL dead-letters back to the
// queue its consumer rejects from works, and a cycle nobody consumes ends.
func WithDeadLetter(dest string) RedeliveryOption { return deadLetterOption(dest) }

type deadLetterOption string

func (o deadLetterOption) applyQueue(c *queueConfig)         { c.deadLetter = string(o) }
func (o deadLetterOption) applySubscribe(c *subscribeConfig) { c.deadLetter = string(o) }

// WithDeadLetterKey replaces the routing key of dead-lettered messages with
// key, for a dead-letter exchange that routes them by why or where they
// died. Default: a dead letter keeps the message's own key. Given twice,
// the last wins.
func WithDeadLetterKey(key string) RedeliveryOption { return deadLetterKeyOption(key) }

type deadLetterKeyOption string

func (o deadLetterKeyOption) applyQueue(c *queueConfig) {
	c.deadLetterKey, c.replaceKey = string(o), true
}
func (o deadLetterKeyOption) applySubscribe(c *subscribeConfig) {
	c.deadLetterKey, c.replaceKey = string(o), true
}

// WithAckTimeout redelivers a delivery that is not settled within d of being
// handed out, so that a stuck consumer cannot hold a message forever; the
// late consumer's Ack then returns ErrSettled. A [Handler] still running
// on the timed-out delivery has its context cancelled, with cause
// [ErrAckTimeout]. The redelivery counts as an attempt. On a topic it applies to subscription groups only. Default 0:
// no timeout. Given twice, the last wins.
func WithAckTimeout(d time.Duration) RedeliveryOption { return ackTimeoutOption(d) }

type ackTimeoutOption time.Duration

func (o ackTimeoutOption) applyQueue(c *queueConfig)         { c.ackTimeout = time.Duration(o) }
func (o ackTimeoutOption) applySubscribe(c *subscribeConfig) { c.ackTimeout = time.Duration(o) }

// WithTTL expires messages that stay in the queue longer than d after
// publish; an expired message is never delivered. A message's own TTL
// applies when it is shorter. Default 0: messages never expire; so do
// they with a TTL too long for the clock (such as math.MaxInt64). A
// negative d is refused with ErrInvalid. Given twice, the last wins.
func WithTTL(d time.Duration) QueueOption { return ttlOption(d) }

type ttlOption time.Duration

func (o ttlOption) applyQueue(c *queueConfig) { c.ttl = time.Duration(o) }

// WithPriorities gives a queue n priority levels: a message with a higher
// Priority is handed out first, FIFO within a level, and priorities of n
// or more count as n-1. A full queue with OverflowDropOldest drops the
// oldest message of the lowest level. Without this option a queue has one
// level and ignores Message.Priority. Default 1; n must be 1 to
// MaxPriorities (256), else the declaration returns an error wrapping
// ErrInvalid. Given twice, the last wins.
func WithPriorities(n int) QueueOption { return prioritiesOption(n) }

type prioritiesOption int

func (o prioritiesOption) applyQueue(c *queueConfig) { c.priorities = int(o) }

// WithDedup makes a queue or topic remember the IDs of the messages
// published to it for window, like JetStream's duplicate window: a publish
// whose ID was seen within the window is not added again and returns
// ErrDuplicate. Only IDs the publisher sets can repeat; publish assigns
// fresh ones otherwise. Memory is bounded: at most MaxDedupIDs IDs are
// remembered, so above MaxDedupIDs publishes per window the window is
// shorter. Default 0: no deduplication; a window too long for the clock
// (such as math.MaxInt64) never ends. Given twice, the last wins.
func WithDedup(window time.Duration) QueueTopicOption { return dedupOption(window) }

type dedupOption time.Duration

func (o dedupOption) applyQueue(c *queueConfig) { c.dedup = time.Duration(o) }
func (o dedupOption) applyTopic(c *topicConfig) { c.dedup = time.Duration(o) }

// WithBackoff sets how long a nacked message waits before it is ready
// again: min after the first attempt, doubling with each attempt, never
// more than max. WithBackoff(0, 0) requeues at once. Default
// DefaultBackoffMin (10ms) to DefaultBackoffMax (5s). Given twice, the last
// wins. To call a failing handler again in place instead, keeping the
// delivery, see Retry in package [github.com/heraldmq/herald/middleware].
func WithBackoff(min, max time.Duration) RedeliveryOption { return backoffOption{min, max} }

type backoffOption struct{ min, max time.Duration }

func (o backoffOption) applyQueue(c *queueConfig) { c.backoffMin, c.backoffMax = o.min, o.max }
func (o backoffOption) applySubscribe(c *subscribeConfig) {
	c.backoffMin, c.backoffMax = o.min, o.max
}

// WithConcurrency runs n handler goroutines for one consumer. Default 1;
// must be 1 to MaxConcurrency (4096), or Consume returns an error wrapping
// ErrInvalid. Given twice, the last wins.
func WithConcurrency(n int) ConsumeOption { return concurrencyOption(n) }

type concurrencyOption int

func (o concurrencyOption) applyConsume(c *consumeConfig) { c.concurrency = int(o) }

// WithMaxAge stops a topic from delivering messages older than d (since
// publish): a subscription that reaches one skips it, counted in its
// Stats().Expired, and a replay starts after them. Default 0: no limit.
// Given twice, the last wins.
func WithMaxAge(d time.Duration) TopicOption { return maxAgeOption(d) }

type maxAgeOption time.Duration

func (o maxAgeOption) applyTopic(c *topicConfig) { c.maxAge = time.Duration(o) }

// FromEarliest starts a subscription at the oldest message the topic still
// retains, instead of at the next one published. For a group, it applies
// when the group is created. Given with another From option, the last wins.
func FromEarliest() SubscribeOption { return startOption{start: startEarliest} }

// FromSequence starts a subscription at the message with sequence number
// seq (see Delivery.Seq). If that message is no longer retained the
// subscription starts at the oldest retained one and its first Receive
// reports the gap as a *LagError; a seq not yet published waits for it.
// Given with another From option, the last wins.
func FromSequence(seq uint64) SubscribeOption { return startOption{start: startSeq, seq: seq} }

// FromTime starts a subscription at the first retained message whose Time
// is not before t. Given with another From option, the last wins.
func FromTime(t time.Time) SubscribeOption { return startOption{start: startTime, time: t} }

type startOption struct {
	start startAt
	seq   uint64
	time  time.Time
}

func (o startOption) applySubscribe(c *subscribeConfig) {
	c.start, c.seq, c.time = o.start, o.seq, o.time
}

// WithGroup makes the subscription a member of the named group: members
// share one stream, each message handled by one of them and acked,
// redelivered and dead-lettered as on a queue (NATS queue groups, Kafka
// consumer groups). A group lives as long as its topic: messages published
// while it has no member wait for the next one, within the topic's
// capacity and overflow policy. Its redelivery options are fixed by the
// subscription that creates it; a member that asks for others gets
// ErrExists. Given twice, the last wins.
func WithGroup(name string) SubscribeOption { return groupOption(name) }

type groupOption string

func (o groupOption) applySubscribe(c *subscribeConfig) { c.group, c.grouped = string(o), true }

type exchangeConfig struct {
	alternate    string
	hasAlternate bool
}

func (c *exchangeConfig) validate(name string) error {
	if !c.hasAlternate {
		return nil
	}
	if err := validateName(c.alternate); err != nil {
		return fmt.Errorf("exchange %q: alternate exchange: %w", name, err)
	}
	if c.alternate == name {
		return invalidf("exchange %q: is its own alternate", name)
	}
	return nil
}

type bindConfig struct {
	transform Transform
	headers   Headers
	any       bool
	set       bool // MatchAll or MatchAny was given
	observer  bool // AsObserver; see bindobserver.go
}

// WithAlternate names the exchange that receives the messages this
// exchange's bindings do not match (RabbitMQ's alternate-exchange), so that
// they are not returned to the publisher as ErrUnroutable. It is looked up
// at each such publish, so it may be declared later; if it is missing, or
// routes the message nowhere too, Publish returns an error wrapping
// ErrUnroutable (and ErrNotFound when it is missing). Default: none. Given
// twice, the last wins.
func WithAlternate(exchange string) ExchangeOption { return alternateOption(exchange) }

type alternateOption string

func (o alternateOption) applyExchange(c *exchangeConfig) {
	c.alternate, c.hasAlternate = string(o), true
}

// MatchAll makes a headers-exchange binding match the messages that carry
// every header in h with the same value; other headers of the message do
// not matter, and MatchAll(nil) matches every message. It is the default, as
// x-match=all is in RabbitMQ: a headers binding without MatchAll or MatchAny
// is MatchAll(nil). Names in h may not start with "x-". h is copied by Bind.
// Given twice, or with MatchAny, the last wins; on an exchange of another
// kind, Bind returns an error wrapping ErrInvalid.
func MatchAll(h Headers) BindOption { return headersOption{h: h} }

// MatchAny makes a headers-exchange binding match the messages that carry
// at least one header in h with the same value, so MatchAny(nil) matches no
// message. Otherwise as [MatchAll].
func MatchAny(h Headers) BindOption { return headersOption{h: h, any: true} }

type headersOption struct {
	h   Headers
	any bool
}

func (o headersOption) applyBind(c *bindConfig) { c.headers, c.any, c.set = o.h, o.any, true }
