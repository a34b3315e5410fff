package heraldnats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Export forwards the messages of src to JetStream, on the subject that
// subject makes of each message: "{key}" is replaced by the message's Key
// ("{key}" alone: the Key is the subject; no placeholder: one subject for
// all). A stream must capture the subjects (see Bridge.JetStream).
//
// It works as a RabbitMQ shovel: a message is taken from herald, published
// to JetStream, and acked in herald only once JetStream's PubAck says the
// stream stored it, so a message is never in neither. Its Nats-Msg-Id is
// the herald message ID, so that a message sent twice (a lost PubAck, a
// crash between PubAck and herald ack) is stored once within the stream's
// duplicate window. Its Headers, Key, CorrelationID, ReplyTo, Time and
// Priority travel as NATS headers (see HeaderKey); its body as []byte when
// it is []byte or json.RawMessage, else encoded by the bridge's codec (JSON
// by default; see WithCodec) with the content-type header.
//
// While NATS is unreachable the export takes nothing more from herald
// (it holds, unsent, the one message it was waiting for): messages wait
// there, within the destination's capacity and overflow policy, and those
// already sent are sent again once the connection is back. A publish
// that JetStream refuses (no stream for the subject, a full stream) nacks the
// herald delivery, which is redelivered or dead-lettered by the source's
// own rules. A message whose subject cannot be made (an empty Key for
// "{key}") or whose body cannot be encoded is rejected: herald dead-letters
// it. Every outcome is counted in the route's Stats.
//
// Export returns the running route, or an error: one wrapping ErrInvalid
// for a nil source, a malformed subject or a bad option, herald's error when
// the source cannot be opened (ErrNotFound for an undeclared name), and
// ErrClosed after Close.
func (br *Bridge) Export(src Source, subject string, opts ...ExportOption) (*Route, error) {
	if src == nil {
		return nil, invalidf("nil source")
	}
	tmpl, err := parseSubject(subject)
	if err != nil {
		return nil, err
	}
	cfg := exportConfig{maxInFlight: DefaultMaxInFlight, publishTimeout: DefaultPublishTimeout}
	for _, o := range opts {
		if o == nil {
			return nil, invalidf("nil option")
		}
		o.applyExport(&cfg)
	}
	if cfg.maxInFlight < 1 {
		return nil, invalidf("max in flight %d, want at least 1", cfg.maxInFlight)
	}
	if cfg.publishTimeout <= 0 {
		return nil, invalidf("publish timeout %v, want more than 0", cfg.publishTimeout)
	}
	// An export has its own JetStream context: its own PubAck timeout, and
	// CleanupPublisher at its end touches no other route.
	js, err := jetstream.New(br.nc,
		jetstream.WithPublishAsyncTimeout(cfg.publishTimeout),
		jetstream.WithPublishAsyncMaxPending(cfg.maxInFlight+1))
	if err != nil {
		return nil, fmt.Errorf("heraldnats: %w", err)
	}
	s, err := src.open(br.b)
	if err != nil {
		return nil, err
	}
	r := newRoute(fmt.Sprintf("export %s -> %s", s, subject))
	r.lag = s.backlog
	e := &exporter{br: br, r: r, src: s, subj: tmpl, js: js, cfg: cfg}
	if err := br.addRoute(r, e.run); err != nil {
		s.close()
		return nil, err
	}
	return r, nil
}

type exporter struct {
	br   *Bridge
	r    *Route
	src  source
	subj subjectTemplate
	js   jetstream.JetStream
	cfg  exportConfig
}

// inflight is a message sent and waiting for its PubAck.
type inflight struct {
	d   *herald.Delivery
	msg *nats.Msg
	f   jetstream.PubAckFuture // nil when sending failed at once
	err error                  // why sending failed at once
}

// run sends on this goroutine and collects PubAcks, in order, on another:
// a window of up to maxInFlight messages in between.
func (e *exporter) run(ctx context.Context) {
	window := make(chan inflight, e.cfg.maxInFlight)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		var drain drainTimer
		defer drain.stop()
		for it := range window {
			ack, err := e.await(ctx, it, &drain)
			e.settle(it.d, ack, err)
		}
	}()
	e.send(ctx, window)
	close(window)
	<-collected
	e.js.CleanupPublisher()
	e.src.close()
}

// send takes messages from herald while connected and publishes them,
// until ctx ends or the source closes.
func (e *exporter) send(ctx context.Context, window chan<- inflight) {
	log := e.br.cfg.log
	for {
		if e.br.gate.wait(ctx) != nil {
			return
		}
		d, err := e.src.receive(ctx)
		if err != nil {
			var lag *herald.LagError
			if errors.As(err, &lag) {
				log.Warn("heraldnats: export lagged: messages were lost in herald", "route", e.r.name, "missed", lag.Missed)
				continue
			}
			if ctx.Err() == nil {
				log.Warn("heraldnats: export stopped", "route", e.r.name, "error", err)
			}
			return
		}
		if d.Attempt > 1 {
			e.r.c.redelivered.Add(1)
		}
		// Disconnected while waiting for it: hold it until connected.
		if e.br.gate.wait(ctx) != nil {
			e.r.c.failed.Add(1)
			d.Nack()
			return
		}
		msg, err := e.encode(d.Message)
		if err != nil {
			e.r.c.failed.Add(1)
			log.Warn("heraldnats: export rejected a message", "route", e.r.name, "id", d.ID, "error", err)
			d.Reject()
			continue
		}
		it := inflight{d: d, msg: msg}
		it.f, it.err = e.js.PublishMsgAsync(msg)
		window <- it // the collector frees a place whatever happens
	}
}

func (e *exporter) encode(m *herald.Message) (*nats.Msg, error) {
	subject := e.subj.expand(m.Key)
	if err := checkSubject(subject, false); err != nil {
		return nil, fmt.Errorf("message %s with key %q: %w", m.ID, m.Key, err)
	}
	return encodeMsg(m, subject, e.br.cfg.codec)
}

var errDrained = errors.New("heraldnats: no PubAck within the drain timeout")

// await returns the PubAck of it. A PubAck lost to the connection (a
// timeout, a reconnect) is waited for again by publishing the message again
// once connected, with the same Nats-Msg-Id, while the route runs.
func (e *exporter) await(ctx context.Context, it inflight, drain *drainTimer) (*jetstream.PubAck, error) {
	err := it.err
	if err == nil {
		select {
		case ack := <-it.f.Ok():
			return ack, nil
		case err = <-it.f.Err():
		case <-ctx.Done():
			// Closing: the PubAck may still come, within the drain timeout.
			select {
			case ack := <-it.f.Ok():
				return ack, nil
			case err = <-it.f.Err():
			case <-drain.c(e.br.cfg.drain):
				return nil, errDrained
			}
		}
	}
	for attempt := 1; transient(err) && ctx.Err() == nil; attempt++ {
		e.r.c.redelivered.Add(1)
		e.br.cfg.log.Warn("heraldnats: no PubAck, sending again", "route", e.r.name, "id", it.d.ID, "error", err)
		// The first try goes as soon as the connection is up; later ones,
		// failing while connected, back off.
		if e.br.gate.wait(ctx) != nil {
			break
		}
		if attempt > 1 && !sleep(ctx, backoff(attempt-1, e.br.cfg.backoffMin, e.br.cfg.backoffMax)) {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, e.cfg.publishTimeout)
		var ack *jetstream.PubAck
		ack, err = e.js.PublishMsg(pctx, it.msg)
		cancel()
		if err == nil {
			return ack, nil
		}
	}
	return nil, err
}

// settle acks the delivery after a PubAck and nacks it otherwise.
func (e *exporter) settle(d *herald.Delivery, ack *jetstream.PubAck, err error) {
	if err != nil {
		e.r.c.failed.Add(1)
		e.br.cfg.log.Warn("heraldnats: export failed, nacked in herald", "route", e.r.name, "id", d.ID, "error", err)
		d.Nack()
		return
	}
	e.r.c.forwarded.Add(1)
	if ack.Duplicate {
		e.r.c.duplicates.Add(1)
	}
	if hook := e.br.cfg.afterPubAck; hook != nil && !hook(d) {
		return
	}
	if err := d.Ack(); err != nil {
		// Redelivered after its ack timeout: sent again, it will be a
		// duplicate for the stream.
		e.br.cfg.log.Warn("heraldnats: herald ack after PubAck failed", "route", e.r.name, "id", d.ID, "error", err)
		return
	}
	e.r.c.acked.Add(1)
}

// transient reports whether err means the PubAck was lost on the way
// rather than refused by JetStream.
func transient(err error) bool {
	return errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, jetstream.ErrConnectionClosed) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs)
}

// drainTimer is the drain timeout, started when first asked for; once it
// has passed, every later wait on it ends at once.
type drainTimer struct {
	t       *time.Timer
	expired chan struct{}
}

func (d *drainTimer) c(timeout time.Duration) <-chan struct{} {
	if d.t == nil {
		d.expired = make(chan struct{})
		d.t = time.AfterFunc(timeout, func() { close(d.expired) })
	}
	return d.expired
}

func (d *drainTimer) stop() {
	if d.t != nil {
		d.t.Stop()
	}
}

// sleep waits d, or until ctx ends (returning false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
