package heraldnats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go/jetstream"
)

// Import feeds the herald queue, topic or exchange called dest from the
// durable pull consumer called durable on the JetStream stream called
// stream, which it creates, or updates to opts, under ctx; ctx bounds that
// setup only, and Import waits under it for the connection. The route then
// runs until Close.
//
// Each JetStream message becomes a herald message: the reverse of Export,
// with its ID from Nats-Msg-Id (else "<stream>:<sequence>"), its Key from
// the Herald-Key header (else the subject, so a dest exchange can route a
// plain NATS publisher's messages), its Time from Herald-Time (else when the
// stream stored it), its other headers as Headers. A ReplyTo that names a
// private reply destination of the far broker is dropped. The body arrives
// as []byte, which Typed[T] handlers decode, or as a T with DecodeBody.
//
// The JetStream message is acked once herald accepted the publish (or, with
// AckWhenHandled, once a handler handled it). A publish herald refuses
// (ErrFull, ErrUnroutable, ErrNotFound, a timeout of WithImportTimeout on a
// blocked queue) naks it with the nak delay (WithNakDelay): JetStream
// redelivers it later, and it is never acked before herald has it. A publish
// refused with ErrDuplicate (dest declared WithDedup, which drops the
// copies a lost ack makes JetStream redeliver) is acked.
//
// Import returns the running route, or an error: one wrapping ErrInvalid
// for a malformed name or a bad option, JetStream's error when the consumer
// cannot be made (jetstream.ErrStreamNotFound), ctx.Err() and ErrClosed.
func (br *Bridge) Import(ctx context.Context, stream, durable, dest string, opts ...ImportOption) (*Route, error) {
	for _, n := range [...]struct{ what, name string }{{"stream", stream}, {"durable", durable}} {
		if n.name == "" || strings.ContainsAny(n.name, " \t\r\n.*>/\\") {
			return nil, invalidf("%s name %q", n.what, n.name)
		}
	}
	if dest == "" {
		return nil, invalidf("empty destination")
	}
	cfg := importConfig{nakDelay: DefaultNakDelay, batch: DefaultBatch}
	for _, o := range opts {
		if o == nil {
			return nil, invalidf("nil option")
		}
		o.applyImport(&cfg)
	}
	if cfg.batch < 1 {
		return nil, invalidf("batch %d, want at least 1", cfg.batch)
	}
	if cfg.nakDelay < 0 || cfg.publishTimeout < 0 || cfg.consumer.AckWait < 0 {
		return nil, invalidf("negative duration")
	}
	for _, s := range cfg.consumer.FilterSubjects {
		if err := checkSubject(s, true); err != nil {
			return nil, err
		}
	}
	cc := cfg.consumer
	cc.Durable, cc.Name, cc.AckPolicy = durable, "", jetstream.AckExplicitPolicy
	if cfg.makeDecode != nil {
		cfg.decode = cfg.makeDecode(br.cfg.codec)
	}
	if err := br.checkOpen(); err != nil {
		return nil, err
	}
	if err := br.gate.wait(ctx); err != nil {
		return nil, err
	}
	cons, err := br.js.CreateOrUpdateConsumer(ctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("heraldnats: consumer %s on stream %s: %w", durable, stream, err)
	}
	ackWait := cons.CachedInfo().Config.AckWait
	if cfg.publishTimeout == 0 {
		cfg.publishTimeout = ackWait / 2
	}
	r := newRoute(fmt.Sprintf("import %s/%s -> %s", stream, durable, dest))
	im := &importer{br: br, r: r, stream: stream, cc: cc, cons: cons, dest: dest, cfg: cfg, ackWait: ackWait}
	if err := br.addRoute(r, im.run); err != nil {
		return nil, err
	}
	return r, nil
}

func (br *Bridge) checkOpen() error {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed {
		return ErrClosed
	}
	return nil
}

type importer struct {
	br      *Bridge
	r       *Route
	stream  string
	cc      jetstream.ConsumerConfig
	cons    jetstream.Consumer
	dest    string
	cfg     importConfig
	ackWait time.Duration
}

// run pulls until ctx ends. When the iterator fails (the consumer deleted,
// the stream gone) it makes the consumer again, with back-off.
func (im *importer) run(ctx context.Context) {
	log := im.br.cfg.log
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if !sleep(ctx, backoff(attempt, im.br.cfg.backoffMin, im.br.cfg.backoffMax)) {
				return
			}
			if im.br.gate.wait(ctx) != nil {
				return
			}
			cons, err := im.br.js.CreateOrUpdateConsumer(ctx, im.stream, im.cc)
			if err != nil {
				log.Warn("heraldnats: import cannot make its consumer", "route", im.r.name, "error", err)
				continue
			}
			im.cons = cons
		}
		it, err := im.cons.Messages(jetstream.PullMaxMessages(im.cfg.batch))
		if err != nil {
			log.Warn("heraldnats: import cannot pull", "route", im.r.name, "error", err)
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		err = im.pull(ctx, it)
		stop()
		it.Stop()
		if ctx.Err() != nil {
			return
		}
		log.Warn("heraldnats: import pull failed, starting again", "route", im.r.name, "error", err)
	}
}

func (im *importer) pull(ctx context.Context, it jetstream.MessagesContext) error {
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			msg.Nak() // Close: for JetStream to redeliver at once
			return ctx.Err()
		}
		im.handle(ctx, msg)
	}
}

func (im *importer) handle(ctx context.Context, msg jetstream.Msg) {
	log := im.br.cfg.log
	var id string
	var stored time.Time
	if meta, err := msg.Metadata(); err == nil {
		im.r.c.lag.Store(meta.NumPending)
		if meta.NumDelivered > 1 {
			im.r.c.redelivered.Add(1)
		}
		id = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		stored = meta.Timestamp
	}
	m := decodeMsg(msg.Subject(), msg.Headers(), msg.Data(), id, stored)
	if im.cfg.decode != nil {
		body, err := im.cfg.decode(m)
		if err != nil {
			im.r.c.failed.Add(1)
			log.Warn("heraldnats: import cannot decode a body, terminated", "route", im.r.name, "id", m.ID, "error", err)
			msg.TermWithReason("heraldnats: " + err.Error())
			return
		}
		m.Body = body
	}
	var tok string
	if im.cfg.ackOnHandled {
		if m.Headers == nil {
			m.Headers = herald.Headers{}
		}
		tok = im.br.acks.register(pendingAck{msg: msg, r: im.r, nakDelay: im.cfg.nakDelay}, im.ackWait)
		m.Headers[HeaderAckToken] = tok
	}
	pctx, cancel := context.WithTimeout(ctx, im.cfg.publishTimeout)
	err := im.br.b.Publish(pctx, im.dest, m)
	cancel()
	dup := errors.Is(err, herald.ErrDuplicate)
	if err != nil && !dup {
		if tok != "" {
			im.br.acks.take(tok)
		}
		im.r.c.failed.Add(1)
		log.Warn("heraldnats: herald refused an import, nakked", "route", im.r.name, "id", m.ID, "error", err)
		msg.NakWithDelay(im.cfg.nakDelay)
		return
	}
	im.r.c.forwarded.Add(1)
	switch {
	case dup && tok != "":
		// herald has a copy whose handler will ack it: look again later.
		im.br.acks.take(tok)
		im.r.c.duplicates.Add(1)
		msg.NakWithDelay(im.cfg.nakDelay)
	case dup:
		im.r.c.duplicates.Add(1)
		im.ack(msg)
	case tok == "":
		im.ack(msg)
	}
}

func (im *importer) ack(msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		im.br.cfg.log.Warn("heraldnats: import ack failed, JetStream will redeliver", "route", im.r.name, "error", err)
		return
	}
	im.r.c.acked.Add(1)
}
