package heraldnats

import (
	"log/slog"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults. Each option's doc repeats the one it overrides.
const (
	DefaultMaxInFlight    = 1024
	DefaultPublishTimeout = 5 * time.Second
	DefaultNakDelay       = time.Second
	DefaultBatch          = 512
	DefaultConcurrency    = 16
	DefaultRequestTimeout = 30 * time.Second
	DefaultDrainTimeout   = 5 * time.Second
	DefaultBackoffMin     = 50 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
	DefaultQueueGroup     = "heraldnats"
)

// Option configures a Bridge; pass options to New or Connect.
type Option interface{ applyBridge(*config) }

type config struct {
	log         *slog.Logger
	codec       herald.Codec
	drain       time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	natsOpts    []nats.Option
	afterPubAck func(*herald.Delivery) bool // tests: false leaves the delivery unsettled, as a crash would
}

func defaultConfig() config {
	return config{
		log:        slog.New(slog.DiscardHandler),
		codec:      herald.JSONCodec(),
		drain:      DefaultDrainTimeout,
		backoffMin: DefaultBackoffMin,
		backoffMax: DefaultBackoffMax,
	}
}

type bridgeOption func(*config)

func (f bridgeOption) applyBridge(c *config) { f(c) }

// WithLogger makes the bridge log through l: publish failures, naks and
// reconnects at Warn, connection changes at Info. Default: nothing is
// logged. A nil l restores the default. Given twice, the last wins.
func WithLogger(l *slog.Logger) Option {
	return bridgeOption(func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.log = l
	})
}

// WithCodec sets how exports encode bodies that are not []byte or
// json.RawMessage, and how DecodeBody decodes imported ones unless it is
// given a codec of its own. Default herald.JSONCodec(); nil restores it.
// Given twice, the last wins.
func WithCodec(codec herald.Codec) Option {
	return bridgeOption(func(c *config) {
		if codec == nil {
			codec = herald.JSONCodec()
		}
		c.codec = codec
	})
}

// WithDrainTimeout bounds how long Close waits for the PubAcks of exported
// messages already sent and for requests in flight; what is still waiting
// then is nacked back to herald. Default DefaultDrainTimeout (5s). Given
// twice, the last wins.
func WithDrainTimeout(d time.Duration) Option {
	return bridgeOption(func(c *config) { c.drain = d })
}

// WithReconnectBackoff sets the back-off of the connection that Connect
// dials: the first reconnect waits min, each further one twice as long, up
// to max, each randomised by ±20%. New ignores it (the caller's connection
// has its own policy). Default DefaultBackoffMin (50ms) to
// DefaultBackoffMax (5s). Given twice, the last wins.
func WithReconnectBackoff(min, max time.Duration) Option {
	return bridgeOption(func(c *config) { c.backoffMin, c.backoffMax = min, max })
}

// WithNATSOptions adds options to the connection that Connect dials, after
// the bridge's own (reconnect forever with back-off, retry a failed first
// connect), so they may override them. New ignores it. Given twice, the
// options accumulate.
func WithNATSOptions(opts ...nats.Option) Option {
	return bridgeOption(func(c *config) { c.natsOpts = append(c.natsOpts, opts...) })
}

// ExportOption configures one export; pass options to Bridge.Export.
type ExportOption interface{ applyExport(*exportConfig) }

type exportConfig struct {
	maxInFlight    int
	publishTimeout time.Duration
}

type exportOption func(*exportConfig)

func (f exportOption) applyExport(c *exportConfig) { f(c) }

// WithMaxInFlight bounds how many messages an export has sent to JetStream
// without their PubAck yet: its window. They are unacked in herald until
// then. Default DefaultMaxInFlight (1024); must be at least 1. Given twice,
// the last wins.
func WithMaxInFlight(n int) ExportOption {
	return exportOption(func(c *exportConfig) { c.maxInFlight = n })
}

// WithPublishTimeout sets how long an export waits for a PubAck before it
// takes the message as not stored; it then sends it again, with the same
// Nats-Msg-Id, once connected. Default DefaultPublishTimeout (5s); must be
// positive. Given twice, the last wins.
func WithPublishTimeout(d time.Duration) ExportOption {
	return exportOption(func(c *exportConfig) { c.publishTimeout = d })
}

// ImportOption configures one import; pass options to Bridge.Import.
type ImportOption interface{ applyImport(*importConfig) }

type importConfig struct {
	consumer       jetstream.ConsumerConfig
	nakDelay       time.Duration
	batch          int
	ackOnHandled   bool
	decode         func(*herald.Message) (any, error)
	makeDecode     func(herald.Codec) func(*herald.Message) (any, error)
	publishTimeout time.Duration
}

type importOption func(*importConfig)

func (f importOption) applyImport(c *importConfig) { f(c) }

// WithConsumerConfig is the durable JetStream consumer's configuration, for
// what the other options do not set (DeliverPolicy, MaxDeliver, BackOff,
// MaxAckPending...). The bridge sets Durable, and AckPolicy to
// AckExplicitPolicy, whatever cfg says. Default: the server's defaults.
// Given twice, the last wins, and options given after it (FilterSubjects,
// WithAckWait) apply on top of it.
func WithConsumerConfig(cfg jetstream.ConsumerConfig) ImportOption {
	return importOption(func(c *importConfig) { c.consumer = cfg })
}

// FilterSubjects makes the consumer take only the stream's messages on
// these subjects (wildcards allowed). Default: every message of the stream.
// Given twice, the last wins.
func FilterSubjects(subjects ...string) ImportOption {
	return importOption(func(c *importConfig) {
		c.consumer.FilterSubject = ""
		c.consumer.FilterSubjects = append([]string(nil), subjects...)
	})
}

// WithAckWait sets the consumer's AckWait: how long JetStream waits for the
// bridge's ack before it redelivers a message. With AckWhenHandled it
// bounds the time from import to a herald handler's outcome. Default: the
// server's (30s). Given twice, the last wins.
func WithAckWait(d time.Duration) ImportOption {
	return importOption(func(c *importConfig) { c.consumer.AckWait = d })
}

// WithNakDelay sets how long JetStream waits before it redelivers a message
// that herald refused (a full queue, an unknown destination) or that a
// handler failed under AckWhenHandled. Default DefaultNakDelay (1s). Given
// twice, the last wins.
func WithNakDelay(d time.Duration) ImportOption {
	return importOption(func(c *importConfig) { c.nakDelay = d })
}

// WithBatch sets how many messages the import pulls from JetStream ahead of
// publishing them to herald. Default DefaultBatch (512); must be at least 1.
// Given twice, the last wins.
func WithBatch(n int) ImportOption {
	return importOption(func(c *importConfig) { c.batch = n })
}

// WithImportTimeout bounds how long one publish to herald may block (a full
// queue under OverflowBlock) before the message is nakked; keep it below
// the AckWait. Default: half the consumer's AckWait (15s for the server's
// default). Given twice, the last wins.
func WithImportTimeout(d time.Duration) ImportOption {
	return importOption(func(c *importConfig) { c.publishTimeout = d })
}

// AckWhenHandled makes the import end-to-end: a JetStream message is acked
// only when a herald handler has handled it, not when herald accepted it.
// The handler must run under the bridge's Bridge.AckMiddleware, which then
// settles both sides: a nil error acks the herald delivery and the
// JetStream message; a Permanent error rejects the herald delivery (it is
// dead-lettered) and terminates the JetStream message; any other error
// hands the retry to JetStream: the herald delivery is acked and the
// JetStream message nakked with the nak delay, so JetStream's MaxDeliver
// and back-off govern the retries rather than herald's. A message that
// never reaches a handler (expired, dropped by an overflow policy) is
// redelivered by JetStream after the AckWait. Default: ack once herald
// accepted the message. Given twice, it stays on.
func AckWhenHandled() ImportOption {
	return importOption(func(c *importConfig) { c.ackOnHandled = true })
}

// DecodeBody makes the import decode every body into a T before publishing
// it to herald, so that handlers find a T in Body (a plain type assertion
// works, and Typed[T] passes it on without decoding). It uses the codec of
// opts (herald.WithCodec), else the bridge's (see WithCodec). A body that
// fails to decode is not published: the JetStream message is terminated,
// counted as failed and logged.
//
// Without DecodeBody (or WithDecoder) bodies arrive as []byte, with the
// content-type header they were sent with, which Typed[T] and herald.BodyAs
// decode on their own. Given twice, or with WithDecoder, the last wins.
func DecodeBody[T any](opts ...herald.TypedOption) ImportOption {
	return importOption(func(c *importConfig) {
		c.decode = nil
		c.makeDecode = func(codec herald.Codec) func(*herald.Message) (any, error) {
			o := append([]herald.TypedOption{herald.WithCodec(codec)}, opts...)
			return func(m *herald.Message) (any, error) { return herald.BodyAs[T](m, o...) }
		}
	})
}

// WithDecoder makes the import replace every body with what fn returns for
// the message (its body is the []byte received), for bodies of several
// types, told apart by a header or the subject. An error is handled as by
// DecodeBody. Given twice, or with DecodeBody, the last wins.
func WithDecoder(fn func(m *herald.Message) (any, error)) ImportOption {
	return importOption(func(c *importConfig) { c.decode, c.makeDecode = fn, nil })
}

// RequestOption configures a request route; pass options to
// Bridge.ExportRequests or Bridge.ImportRequests.
type RequestOption interface{ applyRequest(*requestConfig) }

type requestConfig struct {
	concurrency int
	timeout     time.Duration
	queueGroup  string
}

type requestOption func(*requestConfig)

func (f requestOption) applyRequest(c *requestConfig) { f(c) }

// WithConcurrency sets how many requests a request route handles at once.
// Default DefaultConcurrency (16); must be at least 1. Given twice, the
// last wins.
func WithConcurrency(n int) RequestOption {
	return requestOption(func(c *requestConfig) { c.concurrency = n })
}

// WithRequestTimeout bounds one request: for ExportRequests the NATS
// request (a message with a TTL gets that instead, when shorter), for
// ImportRequests the herald Request. What times out is answered with an
// error reply (CodeTimeout). Default DefaultRequestTimeout (30s); must be
// positive. Given twice, the last wins.
func WithRequestTimeout(d time.Duration) RequestOption {
	return requestOption(func(c *requestConfig) { c.timeout = d })
}

// WithQueueGroup names the NATS queue group of an ImportRequests
// subscription: processes that serve a subject in the same group share its
// requests, each handled once. ExportRequests ignores it. Default
// DefaultQueueGroup ("heraldnats"). Given twice, the last wins.
func WithQueueGroup(name string) RequestOption {
	return requestOption(func(c *requestConfig) { c.queueGroup = name })
}
