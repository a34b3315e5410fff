package heraldnats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go"
)

// ExportRequests makes herald requests to src answerable by another
// process: each message taken from src is sent as a NATS request on the
// subject that subject makes of it (see Export for "{key}"), and the reply
// is published to the message's ReplyTo with its CorrelationID, where the
// Broker.Request that sent it is waiting. So, with a queue "prices" exported
// this way,
//
//	reply, err := b.Request(ctx, "prices", herald.NewMessage(q))
//
// is answered by whatever serves the subject: a herald consumer in another
// process behind Bridge.ImportRequests, or any NATS responder.
//
// Requests go over core NATS, not JetStream: a request is worth something
// only while its requester waits. When no answer can come (nothing serves
// the subject, the far side's herald refused it, WithRequestTimeout passed)
// the requester gets an error reply at once, whose ReplyError is a
// *RemoteError (errors.Is(err, herald.ErrNoResponders) for no responders),
// rather than waiting out its context. The delivery is acked once the
// reply, or error reply, is published; a message without ReplyTo is sent
// as a request all the same and its reply dropped.
//
// Up to WithConcurrency requests are in flight at once. ExportRequests
// returns the running route, or an error as Export does.
func (br *Bridge) ExportRequests(src Source, subject string, opts ...RequestOption) (*Route, error) {
	if src == nil {
		return nil, invalidf("nil source")
	}
	tmpl, err := parseSubject(subject)
	if err != nil {
		return nil, err
	}
	cfg, err := requestOptions(opts)
	if err != nil {
		return nil, err
	}
	s, err := src.open(br.b)
	if err != nil {
		return nil, err
	}
	r := newRoute(fmt.Sprintf("export requests %s -> %s", s, subject))
	r.lag = s.backlog
	x := &requester{br: br, r: r, src: s, subj: tmpl, cfg: cfg}
	if err := br.addRoute(r, x.run); err != nil {
		s.close()
		return nil, err
	}
	return r, nil
}

func requestOptions(opts []RequestOption) (requestConfig, error) {
	cfg := requestConfig{concurrency: DefaultConcurrency, timeout: DefaultRequestTimeout, queueGroup: DefaultQueueGroup}
	for _, o := range opts {
		if o == nil {
			return cfg, invalidf("nil option")
		}
		o.applyRequest(&cfg)
	}
	switch {
	case cfg.concurrency < 1:
		return cfg, invalidf("concurrency %d, want at least 1", cfg.concurrency)
	case cfg.timeout <= 0:
		return cfg, invalidf("request timeout %v, want more than 0", cfg.timeout)
	case cfg.queueGroup == "":
		return cfg, invalidf("empty queue group")
	}
	return cfg, nil
}

type requester struct {
	br   *Bridge
	r    *Route
	src  source
	subj subjectTemplate
	cfg  requestConfig
}

// run consumes the source with a herald consumer (so that Broker.Request
// sees a responder even between two requests) until ctx ends.
func (x *requester) run(ctx context.Context) {
	defer x.src.close()
	err := x.src.consume(ctx, x.handle, herald.WithConcurrency(x.cfg.concurrency))
	if err != nil && ctx.Err() == nil {
		x.br.cfg.log.Warn("heraldnats: request route stopped", "route", x.r.name, "error", err)
	}
}

func (x *requester) handle(ctx context.Context, d *herald.Delivery) error {
	if d.Attempt > 1 {
		x.r.c.redelivered.Add(1)
	}
	subject := x.subj.expand(d.Key)
	reply, err := x.request(ctx, d.Message, subject)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // closing: nacked, the requester is still waiting
		}
		x.r.c.failed.Add(1)
		x.br.cfg.log.Warn("heraldnats: request failed", "route", x.r.name, "subject", subject, "error", err)
		reply = errorReply(subject, err)
	} else if reply.Headers[HeaderError] != "" {
		x.r.c.failed.Add(1)
	} else {
		x.r.c.forwarded.Add(1)
	}
	if d.ReplyTo != "" {
		if err := d.Reply(ctx, reply); err != nil && !errors.Is(err, herald.ErrNotFound) {
			return err // nacked: asked again later
		}
		// ErrNotFound: the requester stopped waiting; nothing to answer.
	}
	x.r.c.acked.Add(1)
	return nil
}

// request sends m as a NATS request and returns the decoded reply, or the
// error that kept one from coming.
func (x *requester) request(ctx context.Context, m *herald.Message, subject string) (*herald.Message, error) {
	if err := checkSubject(subject, false); err != nil {
		return nil, fmt.Errorf("message %s with key %q: %w", m.ID, m.Key, err)
	}
	msg, err := encodeMsg(m, subject, x.br.cfg.codec)
	if err != nil {
		return nil, err
	}
	timeout := x.cfg.timeout
	if m.TTL > 0 && m.TTL < timeout {
		timeout = m.TTL
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := x.br.nc.RequestMsgWithContext(rctx, msg)
	if err != nil {
		return nil, err
	}
	return decodeMsg(resp.Subject, resp.Header, resp.Data, "", time.Time{}), nil
}

// errorReply is the reply that tells a requester why no answer came.
func errorReply(subject string, err error) *herald.Message {
	code := errCode(err)
	if errors.Is(err, nats.ErrNoResponders) {
		code = CodeNoResponders
	} else if errors.Is(err, nats.ErrTimeout) {
		code = CodeTimeout
	}
	return &herald.Message{
		Headers: herald.Headers{HeaderError: err.Error(), HeaderErrorCode: code, HeaderSubject: subject},
		Body:    []byte{},
	}
}

// ImportRequests serves the NATS requests on subject (wildcards allowed)
// with the herald queue, topic or exchange called dest: each request is
// published there by Broker.Request, and the reply a herald consumer sends
// with Delivery.Reply is sent back as the NATS reply. Processes that serve
// one subject in the same queue group (WithQueueGroup) share its requests.
//
// A request herald cannot answer (nothing could ever receive it, such as
// a topic with no subscription: ErrNoResponders; a full queue;
// WithRequestTimeout passed, which includes a queue whose consumer did not
// come in time) gets an error reply that
// ExportRequests turns into a *RemoteError for the requester. Up to
// WithConcurrency requests are handled at once; more wait in the NATS
// subscription. ImportRequests returns the running route, or an error
// wrapping ErrInvalid for a malformed subject or a bad option, NATS's
// error when it cannot subscribe, and ErrClosed after Close.
func (br *Bridge) ImportRequests(subject, dest string, opts ...RequestOption) (*Route, error) {
	if err := checkSubject(subject, true); err != nil {
		return nil, err
	}
	if dest == "" {
		return nil, invalidf("empty destination")
	}
	cfg, err := requestOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := br.checkOpen(); err != nil {
		return nil, err
	}
	r := newRoute(fmt.Sprintf("import requests %s -> %s", subject, dest))
	s := &server{br: br, r: r, dest: dest, cfg: cfg, slots: make(chan struct{}, cfg.concurrency)}
	// Subscribed here, so that requests sent once ImportRequests returns
	// find the subscription.
	s.sub, err = br.nc.QueueSubscribe(subject, cfg.queueGroup, s.dispatch)
	if err != nil {
		return nil, fmt.Errorf("heraldnats: subscribe %s: %w", subject, err)
	}
	if err := br.addRoute(r, s.run); err != nil {
		s.sub.Unsubscribe()
		return nil, err
	}
	// Once the server has the subscription, requests find it. Offline, it
	// is sent on reconnect.
	if br.nc.IsConnected() {
		br.nc.FlushTimeout(DefaultPublishTimeout)
	}
	return r, nil
}

type server struct {
	br    *Bridge
	r     *Route
	dest  string
	cfg   requestConfig
	sub   *nats.Subscription
	slots chan struct{} // one per request being handled

	mu      sync.Mutex
	ctx     context.Context // set by run; nil before; guarded by mu
	stopped bool            // guarded by mu
	wg      sync.WaitGroup  // the request goroutines
}

func (s *server) run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	<-ctx.Done()
	s.sub.Unsubscribe()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.wg.Wait()
}

// dispatch runs on the subscription's goroutine: it hands each request to
// a goroutine of its own, waiting for a free slot.
func (s *server) dispatch(msg *nats.Msg) {
	s.mu.Lock()
	ctx, stopped := s.ctx, s.stopped
	if ctx == nil {
		ctx = s.br.ctx // a request before run started
	}
	if !stopped {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if stopped {
		return // unanswered: the requester times out, or another member answers
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		s.wg.Done()
		return
	}
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		s.serve(ctx, msg)
	}()
}

func (s *server) serve(ctx context.Context, msg *nats.Msg) {
	if msg.Reply == "" {
		s.r.c.failed.Add(1)
		s.br.cfg.log.Warn("heraldnats: request without a reply subject", "route", s.r.name, "subject", msg.Subject)
		return
	}
	m := decodeMsg(msg.Subject, msg.Header, msg.Data, "", time.Time{})
	m.ReplyTo = "" // Request sets its own
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	reply, err := s.br.b.Request(rctx, s.dest, m)
	cancel()
	var out *nats.Msg
	if err != nil {
		s.r.c.failed.Add(1)
		out = &nats.Msg{Header: nats.Header{
			HeaderError:     {err.Error()},
			HeaderErrorCode: {errCode(err)},
			HeaderSubject:   {msg.Subject},
		}}
	} else if out, err = encodeMsg(reply, msg.Reply, s.br.cfg.codec); err != nil {
		s.r.c.failed.Add(1)
		out = &nats.Msg{Header: nats.Header{HeaderError: {err.Error()}, HeaderSubject: {msg.Subject}}}
	} else {
		s.r.c.forwarded.Add(1)
	}
	out.Subject = msg.Reply
	if err := msg.RespondMsg(out); err != nil {
		s.br.cfg.log.Warn("heraldnats: reply not sent", "route", s.r.name, "error", err)
		return
	}
	s.r.c.acked.Add(1)
}
