package herald

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
// Request fails fast, with an error wrapping ErrNoResponders, when nothing
// could answer: a queue with no Consume running and no Receive waiting, a
// topic with no subscription. An exchange that routes the message nowhere
// returns ErrUnroutable. Otherwise Request blocks until the reply comes,
// ctx ends (ctx.Err()) or the broker closes (ErrClosed); publish errors are
// returned as Publish returns them.
func (b *Broker) Request(ctx context.Context, name string, m *Message) (*Message, error) {
	if err := b.checkPublish(ctx, m); err != nil {
		return nil, err
	}
	d, err := b.lookup(name)
	if err != nil {
		return nil, err
	}
	if r, ok := d.(interface{ responders() bool }); ok && !r.responders() {
		return nil, fmt.Errorf("%w: %s %q", ErrNoResponders, d.kind(), name)
	}
	box := b.replies.open()
	defer b.replies.close(box)
	// Fill in the caller's message as Publish does (on a retry with the
	// same message there is nothing left to fill in, so nothing is
	// written while the first attempt's consumer reads it), and send a
	// copy that carries this request's own reply destination.
	if m.CorrelationID == "" {
		m.CorrelationID = nextID()
	}
	m.stamp(b.wall)
	req := *m
	req.ReplyTo = box.name
	if err := d.put(ctx, &req, false); err != nil {
		return nil, err
	}
	select {
	case <-box.done:
		return box.reply, nil // set before done was closed
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.ctx.Done():
		return nil, ErrClosed
	}
}

// Reply publishes m as the answer to this delivery's message: to its
// ReplyTo, with its CorrelationID, assigning m.ID and m.Time when empty. A
// [Broker.Request] waiting for it receives it; a ReplyTo naming a queue,
// topic or exchange gets it like any publish. It returns an error wrapping
// ErrInvalid when the message has no ReplyTo or the delivery did not come
// from a broker, and one wrapping ErrNotFound when the requester has
// stopped waiting. Only the first reply to a request is kept.
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
	return d.src.broker().Publish(ctx, d.ReplyTo, m)
}

// replyBoxes are the private destinations of the requests in flight.
type replyBoxes struct {
	mu    sync.Mutex
	boxes map[string]*replyBox
}

// replyBox holds the one reply a request waits for. The first reply wins.
type replyBox struct {
	name  string
	done  chan struct{} // closed when reply is set
	mu    sync.Mutex
	reply *Message
}

func (r *replyBoxes) open() *replyBox {
	box := &replyBox{name: replyNames.next(), done: make(chan struct{})}
	r.mu.Lock()
	if r.boxes == nil {
		r.boxes = map[string]*replyBox{}
	}
	r.boxes[box.name] = box
	r.mu.Unlock()
	return box
}

func (r *replyBoxes) close(box *replyBox) {
	r.mu.Lock()
	delete(r.boxes, box.name)
	r.mu.Unlock()
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
	box.mu.Lock()
	if box.reply == nil {
		box.reply = m
		close(box.done)
	}
	box.mu.Unlock()
	return nil
}

// responders reports whether a Consume is running on the queue or a
// Receive waiting on it.
func (q *Queue) responders() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.settles.workers) > 0 || q.consumers.Len() > 0
}

// responders reports whether the topic has a subscription or a group with
// a member.
func (t *Topic) responders() bool {
	if len(*t.subs.Load()) > 0 {
		return true
	}
	for _, g := range *t.groups.Load() {
		if g.members.Load() > 0 {
			return true
		}
	}
	return false
}
