package heraldnats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bridge connects one herald broker to NATS: its routes move messages
// between herald destinations and JetStream subjects (Export, Import) and
// carry requests across processes (ExportRequests, ImportRequests). Create
// one with Connect or New; each route starts when it is declared and runs
// until Close. A Bridge is safe for concurrent use.
type Bridge struct {
	b       *herald.Broker
	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream // consumers and requests; exports have their own
	cfg     config
	gate    *connGate
	acks    *ackRegistry

	ctx    context.Context // ends at Close: every route's parent
	cancel context.CancelFunc
	wg     sync.WaitGroup // the gate watcher

	mu     sync.Mutex
	routes []*Route // guarded by mu
	closed bool     // guarded by mu
}

// Connect dials NATS at url (a comma-separated list of servers for a
// cluster) and returns a bridge for b that owns the connection: Close
// closes it. The connection reconnects forever with back-off (see
// WithReconnectBackoff) and, when the server is not up yet, keeps trying in
// the background: Connect returns at once, and the routes wait for it.
// It returns an error wrapping ErrInvalid for a nil broker or a nil option,
// and NATS's error for a malformed url.
func Connect(b *herald.Broker, url string, opts ...Option) (*Bridge, error) {
	if b == nil {
		return nil, invalidf("nil broker")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	natsOpts := []nats.Option{
		nats.Name("heraldnats"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return backoff(attempts, cfg.backoffMin, cfg.backoffMax)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			cfg.log.Warn("heraldnats: disconnected", "error", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				cfg.log.Warn("heraldnats: nats error", "subject", sub.Subject, "error", err)
				return
			}
			cfg.log.Warn("heraldnats: nats error", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			cfg.log.Info("heraldnats: reconnected", "server", nc.ConnectedUrl())
		}),
	}
	nc, err := nats.Connect(url, append(natsOpts, cfg.natsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("heraldnats: connect %s: %w", url, err)
	}
	br, err := newBridge(b, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	br.ownConn = true
	return br, nil
}

// New returns a bridge for b over nc, a connection the caller keeps: Close
// leaves it open, and its reconnect policy is the caller's (give it
// nats.MaxReconnects(-1) so that the routes outlive an outage). It returns
// an error wrapping ErrInvalid for a nil broker, connection or option.
func New(b *herald.Broker, nc *nats.Conn, opts ...Option) (*Bridge, error) {
	if b == nil {
		return nil, invalidf("nil broker")
	}
	if nc == nil {
		return nil, invalidf("nil connection")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newBridge(b, nc, cfg)
}

func newConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return cfg, invalidf("nil option")
		}
		o.applyBridge(&cfg)
	}
	return cfg, nil
}

func newBridge(b *herald.Broker, nc *nats.Conn, cfg config) (*Bridge, error) {
	if cfg.backoffMin <= 0 || cfg.backoffMax < cfg.backoffMin {
		return nil, invalidf("reconnect back-off %v to %v", cfg.backoffMin, cfg.backoffMax)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("heraldnats: %w", err)
	}
	br := &Bridge{b: b, nc: nc, js: js, cfg: cfg, acks: newAckRegistry()}
	br.ctx, br.cancel = context.WithCancel(context.Background())
	br.gate = newConnGate(nc)
	br.wg.Go(br.gate.watch)
	return br, nil
}

// Conn returns the bridge's NATS connection.
func (br *Bridge) Conn() *nats.Conn { return br.nc }

// JetStream returns a JetStream context on the bridge's connection, for
// declaring the streams that exports publish to and imports read from.
func (br *Bridge) JetStream() jetstream.JetStream { return br.js }

// Broker returns the herald broker the bridge serves.
func (br *Bridge) Broker() *herald.Broker { return br.b }

// Routes returns the bridge's routes that are running, in the order they
// were declared.
func (br *Bridge) Routes() []*Route {
	br.mu.Lock()
	defer br.mu.Unlock()
	out := make([]*Route, 0, len(br.routes))
	for _, r := range br.routes {
		if !r.isDone() {
			out = append(out, r)
		}
	}
	return out
}

// Stats returns the counters of all the bridge's routes, summed, those
// closed included.
func (br *Bridge) Stats() Stats {
	br.mu.Lock()
	routes := append([]*Route(nil), br.routes...)
	br.mu.Unlock()
	var s Stats
	for _, r := range routes {
		s.add(r.Stats())
	}
	return s
}

// Close stops every route and waits for its goroutines: exports stop taking
// messages from herald and settle those in flight (acked if their PubAck
// comes within the drain timeout, see WithDrainTimeout, nacked otherwise);
// imports stop pulling (messages pulled but not yet in herald are
// redelivered by JetStream); request routes stop taking requests and answer
// those in flight within the drain timeout. A connection made by Connect is
// then closed and its goroutines gone. Close does not close the broker.
// It is idempotent and returns nil.
func (br *Bridge) Close() error {
	br.mu.Lock()
	if br.closed {
		br.mu.Unlock()
		return nil
	}
	br.closed = true
	routes := append([]*Route(nil), br.routes...)
	br.mu.Unlock()
	for _, r := range routes {
		r.Close()
	}
	br.cancel()
	br.gate.stop()
	br.wg.Wait()
	if br.ownConn {
		br.nc.Close()
	}
	return nil
}

// addRoute registers r and starts it with run, unless the bridge is closed.
func (br *Bridge) addRoute(r *Route, run func(ctx context.Context)) error {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed {
		return ErrClosed
	}
	br.routes = append(br.routes, r)
	r.start(br.ctx, run)
	return nil
}
