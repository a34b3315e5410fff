package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// replyPrefix starts the names of the private reply destinations Request
// makes; declaring a name that starts with it is refused.
const replyPrefix = "_reply."

// Request publishes m to the queue, topic or exchange called name and waits
// for the reply that a consumer sends with [Delivery.Reply]. It fills in
// m's empty ID, Time and CorrelationID (a fresh ID) as Publish would, then
// publishes a shallow copy of m whose ReplyTo names a private reply
// destination that lives until Request returns; m.ReplyTo is left as it
// was. So the same m may be sent again, to retry, while a consumer still
// reads the first attempt. The reply carries the same CorrelationID.
// Concurrent requests never see each other's replies.
//
// When ctx has a deadline, the copy carries it as its TTL (or keeps m.TTL
// if that is shorter), so that a request still queued when its requester
// gives up expires instead of being handled; a ctx that has already ended
// returns its error at once.
//
// A queue holds a request until a consumer comes, as RabbitMQ does, so a
// request to a queue with no consumer yet waits for one under ctx: a
// program may start its consumers with `go q.Consume(...)` and serve at
// once. Request fails fast, with an error wrapping ErrNoResponders, only
// when nothing could ever receive the request: a topic with no
// subscription and no group. An exchange that routes the message nowhere
// returns ErrUnroutable. Otherwise Request blocks until the first answer
// comes, ctx ends (ctx.Err()) or the broker closes (ErrClosed); publish
// errors are returned as Publish returns them. It also returns as soon
// as the request ends in its queue without a reply: dropped by the
// overflow policy (OverflowDropNewest, OverflowDropOldest, or a topic's
// OverflowDropNewest), with an error wrapping ErrFull, or expired by its
// TTL, with an error wrapping context.DeadlineExceeded; or removed by
// [Queue.Purge], with an error wrapping ErrNoResponders (nothing will
// receive it now); each names the queue (or topic), and the dead-letter
// destination if it was dead-lettered. A request an exchange routes to
// several queues and topics ends so only once each of them has ended its
// copy (the error names the last), since any other may still reply.
//
// The answer is a reply, or a [*ReplyError]: when the consumer answered
// with [Delivery.ReplyError], or rejected the request ([Delivery.Reject],
// a [Permanent] handler error, or the queue's max deliveries reached), in
// which case it wraps ErrRejected and Request returns as soon as the
// request is rejected. Only the
// request's own copies end it so: not a message that merely carries its
// ReplyTo with another CorrelationID, nor the dead letter of a copy.
func (b *Broker) Request(ctx context.Context, name string, m *Message) (*Message, error) {
	if err := b.checkPublish(ctx, m); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := b.lookup(name)
	if err != nil {
		return nil, err
	}
	if r, ok := d.(interface{ responders() bool }); ok && !r.responders() {
		return nil, fmt.Errorf("%w: %s %q", ErrNoResponders, d.kind(), name)
	}
	// Fill in the caller's message as Publish does (on a retry with the
	// same message there is nothing left to fill in, so nothing is
	// written while the first attempt's consumer reads it), and send a
	// copy that carries this request's own reply destination. The copy
	// lives in the box, and the box wakes this call through a pooled
	// waiter: a round trip allocates nothing beyond the box.
	if m.CorrelationID == "" {
		m.CorrelationID = nextID()
	}
	m.stamp(b.wall)
	ttl := m.TTL
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		if ttl == 0 || left < ttl {
			ttl = left
		}
	}
	w := b.getWaiter()
	box := b.replies.open(w, m, ttl, copiesOf(d, m))
	defer b.putWaiter(w)
	defer b.replies.close(box)
	if err := b.publishTo(ctx, d, &box.req); err != nil {
		return nil, err
	}
	select {
	case <-w.ch:
		return box.answer() // set before w was woken
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.ctx.Done():
		return nil, ErrClosed
	}
}

// Reply publishes m as the answer to this delivery's message: to its
// ReplyTo, with its CorrelationID, assigning m.ID and m.Time when empty. A
// [Broker.Request] waiting for it receives it; a ReplyTo naming a queue,
// topic or exchange gets it like any publish. Only the first answer to a
// request is kept.
//
// When the requester has stopped waiting, Reply drops m, logs it at debug
// level and returns nil: the request was handled and nobody is left to
// tell, so a handler that ends with `return d.Reply(ctx, r)` acks it
// rather than have it handled again. Reply returns an error wrapping
// ErrInvalid when the message has no ReplyTo or the delivery did not come
// from a broker, ErrSettled when the handler the delivery was given to has
// returned (see [Delivery]), and otherwise what Publish returns.
func (d *Delivery) Reply(ctx context.Context, m *Message) error {
	switch {
	case d.isRetired():
		return fmt.Errorf("%w: reply through a delivery whose handler has returned", ErrSettled)
	case d.Message == nil || d.ReplyTo == "":
		return invalidf("reply to a message without ReplyTo")
	case d.src == nil:
		return invalidf("reply from a delivery that no broker made")
	case m == nil:
		return invalidf("nil reply")
	}
	m.CorrelationID = d.CorrelationID
	b := d.src.broker()
	err := b.Publish(ctx, d.ReplyTo, m)
	if errors.Is(err, ErrNotFound) && strings.HasPrefix(d.ReplyTo, replyPrefix) {
		b.log(slog.LevelDebug, "reply dropped: the requester stopped waiting",
			"source", d.src.sourceName(), "id", d.ID, "correlation_id", d.CorrelationID)
		return nil
	}
	return err
}

// HeaderReplyError is set, on the message [Delivery.ReplyError] sends, to
// the error's text; the message's Body is the error itself.
// [Broker.Request] turns such a reply into a [*ReplyError].
const HeaderReplyError = "x-reply-error"

// ReplyError answers this delivery's message with err instead of a reply:
// the [Broker.Request] waiting for it returns a [*ReplyError] wrapping err,
// so errors.Is and errors.As see err itself. A ReplyTo naming a queue,
// topic or exchange gets a message whose Body is err and whose
// [HeaderReplyError] header is err.Error(). ReplyError returns what Reply
// returns, nil once the answer is on its way, so a handler may end with
// `return d.ReplyError(ctx, err)` to ack a request it handled by refusing
// it. A nil err returns an error wrapping ErrInvalid.
func (d *Delivery) ReplyError(ctx context.Context, err error) error {
	if err == nil {
		return invalidf("ReplyError with a nil error")
	}
	return d.Reply(ctx, &Message{Body: err, Headers: Headers{HeaderReplyError: err.Error()}})
}

// ReplyError is the error [Broker.Request] returns when its request was
// answered with an error instead of a reply: the consumer called
// [Delivery.ReplyError], and Err is the error it passed; or the consumer
// rejected the request (with [Delivery.Reject], a [Permanent] handler
// error, or by reaching the queue's max deliveries), and Rejected is set
// and Err is the handler's last error (nil after a plain Reject). It
// unwraps to Err, and to ErrRejected when Rejected, so that errors.Is and
// errors.As see the consumer's own errors.
type ReplyError struct {
	Err      error
	Rejected bool
}

// Error says how the request was answered, and with what error.
func (e *ReplyError) Error() string {
	switch {
	case e.Rejected && e.Err == nil:
		return "herald: request rejected"
	case e.Rejected:
		return "herald: request rejected: " + errText(e.Err)
	}
	return "herald: request answered with an error: " + errText(e.Err)
}

// Unwrap returns Err, and ErrRejected when the request was rejected.
func (e *ReplyError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Rejected {
		errs = append(errs, ErrRejected)
	}
	return errs
}

// replyBoxes are the private destinations of the requests in flight.
type replyBoxes struct {
	n     atomic.Int32 // len(boxes), read without mu
	mu    sync.Mutex
	boxes map[string]*replyBox
}

// replyBox holds the one answer a request waits for: a reply or, when the
// request was rejected, an error. The first answer wins, and wakes the
// request's waiter; none is taken once the request has stopped waiting.
type replyBox struct {
	// Set before the box is registered, read only after.
	req  Message // the copy of the request that is published
	name string
	want int32 // copies of req that must end before no reply can come

	mu     sync.Mutex
	w      *waiter // Request's, until closed
	closed bool
	gone   int32 // copies of req that ended without a reply
	reply  *Message
	err    error
}

// answer returns what Request returns for the box's answer, once set.
func (box *replyBox) answer() (*Message, error) {
	switch {
	case box.err != nil:
		return nil, box.err
	case box.reply.Headers[HeaderReplyError] != "":
		err, ok := box.reply.Body.(error)
		if !ok {
			err = errors.New(box.reply.Headers[HeaderReplyError])
		}
		return nil, &ReplyError{Err: err}
	}
	return box.reply, nil
}

// open makes a reply destination that wakes w when answered, holding the
// copy of m to publish, with ttl as its TTL, sent to want places.
func (r *replyBoxes) open(w *waiter, m *Message, ttl time.Duration, want int) *replyBox {
	box := &replyBox{req: *m, name: replyNames.next(), want: int32(want), w: w}
	box.req.ReplyTo = box.name
	box.req.TTL = ttl
	r.mu.Lock()
	if r.boxes == nil {
		r.boxes = map[string]*replyBox{}
	}
	r.boxes[box.name] = box
	r.n.Add(1)
	r.mu.Unlock()
	return box
}

// close removes box, after which it takes no answer and lets go of its
// waiter, emptied of a wake-up that came too late, for reuse.
func (r *replyBoxes) close(box *replyBox) {
	r.mu.Lock()
	if _, ok := r.boxes[box.name]; ok {
		delete(r.boxes, box.name)
		r.n.Add(-1)
	}
	r.mu.Unlock()
	box.mu.Lock()
	box.closed = true
	w := box.w
	box.w = nil
	box.mu.Unlock()
	w.drain()
}

func (r *replyBoxes) lookup(name string) (destination, bool) {
	if !strings.HasPrefix(name, replyPrefix) {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	box, ok := r.boxes[name]
	return box, ok
}

// len returns the number of requests waiting for a reply.
func (r *replyBoxes) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.boxes)
}

func (box *replyBox) kind() string { return "reply destination" }

func (box *replyBox) put(_ context.Context, m *Message, _ bool) error {
	box.set(m, nil)
	return nil
}

func (box *replyBox) set(m *Message, err error) {
	box.mu.Lock()
	if !box.closed && box.reply == nil && box.err == nil {
		box.reply, box.err = m, err
		box.w.wake()
	}
	box.mu.Unlock()
}

// rejected tells the request m, if it is one of Request's still waiting
// (see replyBox.owns), that it was rejected because of cause.
func (r *replyBoxes) rejected(m *Message, cause error) {
	d, ok := r.lookup(m.ReplyTo)
	if !ok || !d.(*replyBox).owns(m) {
		return
	}
	var perm *PermanentError
	if errors.As(cause, &perm) {
		cause = perm.Err
	}
	d.(*replyBox).set(nil, &ReplyError{Err: cause, Rejected: true})
}

// waiting reports whether a Request waits for a reply, so that the
// queues report how their messages end (see endings.observed): a request
// that ends without a reply must wake its requester.
func (r *replyBoxes) waiting() bool { return r.n.Load() > 0 }

// ended tells the request whose message ended as info says, if it is one
// of Request's still waiting, that no reply will come: its queue dropped
// it by the overflow policy, or it expired there, before a consumer
// replied. Only a queue's endings count: a topic group's or
// subscription's leave the topic's other readers, which may still reply.
func (r *replyBoxes) ended(info EndInfo) {
	if info.Kind != "queue" || info.Outcome != OutcomeExpired && info.Outcome != OutcomeDropped {
		return
	}
	if d, ok := r.lookup(info.Message.ReplyTo); ok {
		d.(*replyBox).lost(info.Message, func() error { return requestEnded(info) })
	}
}

// copiesOf returns how many places a request published to d reaches, each
// of which ends its copy once: 1 for a queue or topic, the queues and
// topics it is routed to for an exchange (0 when unroutable, and Request
// returns ErrUnroutable).
func copiesOf(d destination, m *Message) int {
	x, ok := d.(*Exchange)
	if !ok {
		return 1
	}
	// As Exchange.put does, with buffers that stay on the stack.
	t := x.table.Load()
	var buf [8]*target
	if ts := t.match(m, buf[:0]); len(ts) > 0 && !t.reachesExchange(ts) {
		return len(ts)
	}
	var outBuf [16]*target
	var xsBuf [8]*Exchange
	out, _, _ := x.route(m, t, outBuf[:0], xsBuf[:0])
	return len(out)
}

// owns reports whether m, which names the box in its ReplyTo, is a copy
// of the box's request: not a message with another CorrelationID (a
// consumer's own, sent with the request's ReplyTo), nor a dead letter made
// of a copy (its HeaderDeathTime differs), whose copy ended when it died.
func (box *replyBox) owns(m *Message) bool {
	return m.CorrelationID == box.req.CorrelationID && m.Headers[HeaderDeathTime] == box.req.Headers[HeaderDeathTime]
}

// lost counts a copy of the request (see owns) that ended without a
// reply: its queue dropped, expired or purged it, or its topic dropped
// it. Once every copy is lost, no reply can come, and the request ends
// with cause().
func (box *replyBox) lost(m *Message, cause func() error) {
	if !box.owns(m) {
		return
	}
	box.mu.Lock()
	box.gone++
	last := box.gone >= box.want
	box.mu.Unlock()
	if last {
		box.set(nil, cause())
	}
}

// dropped tells the request m, if it is one of Request's still waiting,
// that topic's OverflowDropNewest dropped it: no reader got it.
func (r *replyBoxes) dropped(topic string, m *Message) {
	if !r.waiting() {
		return
	}
	if d, ok := r.lookup(m.ReplyTo); ok {
		d.(*replyBox).lost(m, func() error {
			return fmt.Errorf("%w: request dropped by the overflow policy of topic %q before a reply", ErrFull, topic)
		})
	}
}

// purged tells the request m, if it is one of Request's still waiting,
// that Purge removed it from queue before a consumer took it.
func (r *replyBoxes) purged(queue string, m *Message) {
	if d, ok := r.lookup(m.ReplyTo); ok {
		d.(*replyBox).lost(m, func() error {
			return fmt.Errorf("%w: request purged from queue %q before a reply", ErrNoResponders, queue)
		})
	}
}

// requestEnded is the error of a Request whose message ended as info says.
func requestEnded(info EndInfo) error {
	dl := ""
	if info.DeadLetter != "" {
		dl = fmt.Sprintf(" (dead-lettered to %q)", info.DeadLetter)
	}
	if info.Outcome == OutcomeExpired {
		return fmt.Errorf("herald: request expired in queue %q before a reply%s: %w", info.Name, dl, context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: request dropped by the overflow policy of queue %q before a reply%s", ErrFull, info.Name, dl)
}

// responders reports whether anything could receive a request published
// to the topic: a subscription, or a group, which keeps the messages
// published while it has no member for the next one. (A queue always
// could: it holds the request until a consumer comes.)
func (t *Topic) responders() bool {
	return len(*t.subs.Load()) > 0 || len(*t.groups.Load()) > 0
}
