package herald

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/ring"
)

// WithKeyOrdering makes the consumer handle the messages that share a Key
// one at a time, in the order it receives them (the queue's or topic's
// order), while messages of other keys run in parallel on the
// [WithConcurrency] handler goroutines: Kafka's per-partition order
// without partitions, SQS FIFO's message groups. Messages with an empty
// Key are not ordered: each runs as soon as a handler goroutine is free,
// and a nack sends it back to the queue as usual.
//
// A key is never stuck behind another: a handler goroutine that takes a
// message whose key is busy sets it aside behind that key and takes the
// next one, so a slow, blocked or backing-off key holds up only its own
// messages, whatever the keys hash to.
//
// A nacked message (a handler error, or Nack) blocks its key: the consumer
// keeps it and hands it out again after the back-off ([WithBackoff]), as
// the next message of its key, counting the attempt, until it is handled
// or, at the max deliveries, dead-lettered; later messages of the key wait
// meanwhile, other keys go on. [Delivery.Requeue] and [Delivery.Release]
// send the message back to the queue as they always do, which frees its
// key.
//
// Memory is bounded: the consumer holds at most [WithPrefetch] messages
// (in handlers, set aside behind their keys, or backing off; default
// [DefaultKeyOrderHeld], or the concurrency if larger), and while it holds
// that many it takes no more. State is kept only for the keys that have a
// message held, and dropped when a key's last one ends, so millions of
// distinct keys cost nothing beyond the messages held. One key with that
// many messages waiting behind a blocked one does stop the consumer from
// taking more: raise WithPrefetch, or dead-letter sooner with
// [WithMaxDeliveries].
//
// Held messages count as Delivered and Unacked (backing-off ones as
// Delayed). When the consumer stops, every message it holds and has not
// handled goes back to the head of the queue (or as the subscription's
// next deliveries), in the order it took them, its attempt not counted
// unless it was nacked.
//
// With [WithAckTimeout], a message's timeout runs from when the consumer
// takes it, the time set aside behind its key included; one that passes
// goes back to the head of the queue, as on any queue, out of its key's
// order (the set-aside copy is skipped). Choose an ack timeout well above
// the time a key's backlog takes, or none.
//
// Order holds per consumer: with several consumers of one queue, use
// [WithSingleActiveConsumer] for one order across them. Given twice, it is
// still on.
func WithKeyOrdering() ConsumeOption { return keyOrderingOption{} }

type keyOrderingOption struct{}

func (keyOrderingOption) applyConsume(c *consumeConfig) { c.keyOrder = true }

// DefaultKeyOrderHeld is how many messages a consumer WithKeyOrdering
// holds at most, unless WithPrefetch says otherwise.
const DefaultKeyOrderHeld = 1024

// keyedSource is a source whose consumer may keep nacked messages itself:
// a queue or a plain subscription.
type keyedSource interface {
	source
	// holdNacked counts the nack of d and reports whether d's message is
	// now the consumer's to redeliver, counted as delayed; false when it
	// ended at the max deliveries.
	holdNacked(d *Delivery, cause error) (entry, bool)
	// redeliverHeld hands e, held by holdNacked, out again as d; false
	// when it ended instead.
	redeliverHeld(e entry, d *Delivery, counts *settleCounts) bool
	// giveBack puts what a stopping consumer holds back at the head, in
	// order: deliveries never handed to a handler, and held nacks (d nil).
	giveBack(items []keyItem)
	redelivery() *redeliveryConfig
}

// keyOrder is the state of one Consume call WithKeyOrdering. Guarded by
// mu, which is never held while user code runs or a source's lock is
// taken (except by wake, which only cancels a context).
type keyOrder struct {
	src    keyedSource
	b      *Broker
	owner  *handout
	limit  int
	timing bool // the source has an ack timeout

	// taking lets one worker take at a time, so that messages are set
	// aside behind their keys in the order taken: a channel, as a worker
	// may wait long for it (and a channel wait is durable in a synctest
	// bubble).
	taking chan struct{}

	mu       sync.Mutex
	cond     sync.Cond            // workers waiting for room or a due retry
	lines    map[string]*keyLine  // keys with a message held
	runnable ring.Ring[*keyLine]  // lines whose retry is due
	held     int                  // messages held, and takes under way
	seq      uint64               // take order, for giving back
	takers   map[*keyWorker]bool  // workers inside take
	free     ring.Ring[*Delivery] // deliveries to reuse, after ringLen more
	spare    []*keyLine
	idle     int // workers waiting on cond
	stopping bool
}

// keyLine is one key's messages held by the consumer.
type keyLine struct {
	key   string
	owned bool       // a worker runs its messages
	cur   keyItem    // the one in a handler, while owned
	nackd bool       // cur was nacked and is held as retry
	retry *heldRetry // a nacked message, which goes first
	q     ring.Ring[keyItem]
}

// keyItem is a message the consumer holds: a delivery, or, with d nil, a
// nacked message e.
type keyItem struct {
	d   *Delivery
	e   entry
	seq uint64
	ctx context.Context // with an ack timeout: the delivery's own
}

type heldRetry struct {
	item  keyItem
	timer *time.Timer
	due   bool
}

type keyWorker struct {
	counts *settleCounts
	w      *waiter
	tctx   context.Context    // take's: cancelled to call the worker back
	tstop  context.CancelFunc // guarded by mu
}

// runKeyed runs a Consume call WithKeyOrdering until its workers stop,
// and returns what Consume returns.
func (b *Broker) runKeyed(ctx, hctx context.Context, src source, h Handler, cfg consumeConfig, owner *handout) error {
	ks, ok := src.(keyedSource)
	if !ok {
		return invalidf("WithKeyOrdering on a source that cannot hold messages")
	}
	limit := cfg.prefetch
	if limit == 0 {
		limit = max(DefaultKeyOrderHeld, cfg.concurrency)
	}
	ko := &keyOrder{src: ks, b: b, owner: owner, limit: limit, timing: ks.redelivery().ackTimeout > 0,
		lines: map[string]*keyLine{}, takers: map[*keyWorker]bool{}, taking: make(chan struct{}, 1)}
	ko.cond.L = &ko.mu
	owner.keys = ko
	stop := context.AfterFunc(hctx, func() {
		ko.mu.Lock()
		ko.stopping = true
		ko.cond.Broadcast()
		ko.mu.Unlock()
	})
	defer stop()

	workers := make([]*keyWorker, cfg.concurrency)
	for i := range workers {
		kw := &keyWorker{counts: new(settleCounts), w: newWaiter()}
		kw.tctx, kw.tstop = context.WithCancel(hctx)
		src.addWorker(kw.counts)
		workers[i] = kw
	}
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, kw := range workers {
		wg.Go(func() { errs[i] = ko.work(hctx, kw, h) })
	}
	wg.Wait()
	for _, kw := range workers {
		kw.tstop()
	}
	ko.giveBackAll()
	for _, kw := range workers {
		src.removeWorker(kw.counts)
	}
	return b.consumeResult(ctx, errs[0])
}

// work is one handler goroutine: run a due retry, else take a message and
// run it, or set it aside behind its busy key.
func (ko *keyOrder) work(ctx context.Context, kw *keyWorker, h Handler) error {
	var missed uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ko.mu.Lock()
		if kw.tctx.Err() != nil { // called back: a retry is due
			kw.tstop()
			kw.tctx, kw.tstop = context.WithCancel(ctx)
		}
		if line, ok := ko.runnable.PopFront(); ok {
			r := line.retry
			line.retry, line.owned = nil, true
			d := ko.deliveryLocked()
			ko.mu.Unlock()
			d.Missed = 0
			item := keyItem{d: d, seq: r.item.seq}
			if ko.timing {
				item.ctx, d.cancel = context.WithCancelCause(ctx)
			}
			if !ko.src.redeliverHeld(r.item.e, d, kw.counts) {
				d.cancel = nil
				ko.mu.Lock()
				ko.held--
				ko.recycleLocked(d)
				ko.mu.Unlock()
				item, ok = ko.nextOf(ctx, line)
				if !ok {
					continue
				}
			}
			ko.runLine(ctx, line, item, h)
			continue
		}
		if ko.held >= ko.limit {
			ko.idle++
			ko.cond.Wait()
			ko.idle--
			ko.mu.Unlock()
			continue
		}
		ko.mu.Unlock()
		if !ko.acquireTake(ctx) {
			return ctx.Err()
		}
		ko.mu.Lock()
		if ko.runnable.Len() > 0 || ko.held >= ko.limit || ctx.Err() != nil {
			ko.mu.Unlock()
			<-ko.taking
			continue // look again
		}
		ko.held++ // for the message take brings
		ko.takers[kw] = true
		d := ko.deliveryLocked()
		tctx := kw.tctx
		ko.mu.Unlock()

		item := keyItem{d: d}
		if ko.timing {
			item.ctx, d.cancel = context.WithCancelCause(ctx)
		}
		err := ko.src.take(tctx, kw.w, d, kw.counts, nil)
		ko.mu.Lock()
		<-ko.taking // the message, if any, is placed before the next take's
		delete(ko.takers, kw)
		if err != nil {
			ko.held--
			d.cancel = nil
			ko.recycleLocked(d)
			ko.mu.Unlock()
			if lag, ok := err.(*LagError); ok {
				missed += lag.Missed
				continue
			}
			if ctx.Err() == nil && tctx.Err() != nil {
				continue // called back for a due retry
			}
			return err
		}
		d.Missed, missed = missed, 0
		item.seq = ko.seq
		ko.seq++
		if d.Key == "" {
			ko.mu.Unlock()
			ko.run(ctx, item, h)
			ko.mu.Lock()
			ko.held--
			ko.recycleLocked(d)
			ko.roomLocked()
			ko.mu.Unlock()
			continue
		}
		line := ko.lines[d.Key]
		if line != nil {
			line.q.PushBack(item) // its key is busy: set aside
			ko.mu.Unlock()
			continue
		}
		line = ko.lineLocked(d.Key)
		line.owned = true
		ko.mu.Unlock()
		ko.runLine(ctx, line, item, h)
	}
}

// runLine runs item, of line, which the caller owns, then the messages set
// aside behind it, until line is empty, blocked by a nack, or the consumer
// stops.
func (ko *keyOrder) runLine(ctx context.Context, line *keyLine, item keyItem, h Handler) {
	for {
		ko.mu.Lock()
		line.cur = item
		ko.mu.Unlock()
		ko.run(ctx, item, h)
		ko.mu.Lock()
		if !line.nackd { // it ended
			ko.held--
		}
		line.cur, line.nackd = keyItem{}, false
		ko.recycleLocked(item.d)
		ko.roomLocked()
		ko.mu.Unlock()
		var ok bool
		if item, ok = ko.nextOf(ctx, line); !ok {
			return
		}
	}
}

// nextLocked returns the next message of line for its owner to run, or
// gives line up: when it is empty, blocked by a retry (scheduled now), or
// the consumer stops.
func (ko *keyOrder) nextOf(ctx context.Context, line *keyLine) (keyItem, bool) {
	ko.mu.Lock()
	defer ko.mu.Unlock()
	if line.retry != nil {
		line.owned = false
		ko.scheduleLocked(line)
		return keyItem{}, false
	}
	for line.q.Len() > 0 && ctx.Err() == nil {
		next, _ := line.q.PopFront()
		if next.d.settled() == settledNone {
			return next, true
		}
		// Its ack timeout passed while it waited: the queue has it back.
		ko.held--
		ko.recycleLocked(next.d)
		ko.roomLocked()
	}
	line.owned = false
	if line.q.Len() == 0 {
		ko.dropLocked(line)
	}
	return keyItem{}, false
}

// run hands item to h and settles it by h's result. A nack, by the result
// or by h itself, comes to nack, which sets the line's retry.
func (ko *keyOrder) run(ctx context.Context, item keyItem, h Handler) {
	d := item.d
	hctx := ctx
	if item.ctx != nil {
		hctx = item.ctx
	}
	ko.b.observeDeliver(hctx, d, true)
	err := ko.b.call(hctx, h, d)
	d.retire()
	settleByResult(d, err)
	if d.cancel != nil {
		d.cancel(nil)
		d.cancel = nil
	}
}

// nack takes a nack of one of the consumer's deliveries, and reports false
// when the source should apply it as usual.
func (ko *keyOrder) nack(d *Delivery, cause error) bool {
	if d.Key == "" {
		return false
	}
	e, ok := ko.src.holdNacked(d, cause)
	if !ok {
		return true // ended at the max deliveries
	}
	ko.mu.Lock()
	defer ko.mu.Unlock()
	line := ko.lines[d.Key]
	if line == nil {
		line = ko.lineLocked(d.Key)
	}
	seq := ko.seq // a nack after its handler returned: behind what was taken
	if line.cur.d == d {
		seq, line.nackd = line.cur.seq, true
	} else {
		ko.held++
	}
	line.retry = &heldRetry{item: keyItem{e: e, seq: seq}}
	if !line.owned {
		ko.scheduleLocked(line)
	}
	return true
}

// scheduleLocked makes line runnable when its retry's back-off is over;
// a stopping consumer keeps the retry to give back.
func (ko *keyOrder) scheduleLocked(line *keyLine) {
	r := line.retry
	if ko.stopping || r.timer != nil {
		return
	}
	wait := backoff(*ko.src.redelivery(), int(r.item.e.attempt))
	if wait <= 0 {
		ko.dueLocked(line, r)
		return
	}
	r.timer = time.AfterFunc(wait, func() {
		ko.mu.Lock()
		if line.retry == r && !ko.stopping {
			ko.dueLocked(line, r)
		}
		ko.mu.Unlock()
	})
}

func (ko *keyOrder) dueLocked(line *keyLine, r *heldRetry) {
	r.due = true
	ko.runnable.PushBack(line)
	// A worker waiting on cond runs it; else one inside take is called
	// back, so that a blocked handler elsewhere never delays it.
	if ko.idle > 0 {
		ko.cond.Signal()
		return
	}
	for kw := range ko.takers {
		kw.tstop()
		return
	}
}

// roomLocked wakes a worker waiting for room.
func (ko *keyOrder) roomLocked() {
	if ko.idle > 0 && ko.held < ko.limit {
		ko.cond.Signal()
	}
}

func (ko *keyOrder) lineLocked(key string) *keyLine {
	var line *keyLine
	if n := len(ko.spare); n > 0 {
		line, ko.spare = ko.spare[n-1], ko.spare[:n-1]
	} else {
		line = new(keyLine)
	}
	line.key = key
	ko.lines[key] = line
	return line
}

// dropLocked forgets an empty line, so that a key costs nothing once its
// messages have ended.
func (ko *keyOrder) dropLocked(line *keyLine) {
	delete(ko.lines, line.key)
	line.key = ""
	if len(ko.spare) < 64 {
		ko.spare = append(ko.spare, line)
	}
}

// deliveryLocked returns a delivery to take into: one handed back at least
// ringLen deliveries ago, as the handler goroutines of Consume reuse
// theirs, or a new one.
func (ko *keyOrder) deliveryLocked() *Delivery {
	if ko.free.Len() > ringLen && !ko.owner.Load() {
		d, _ := ko.free.PopFront()
		return d
	}
	return &Delivery{owner: ko.owner}
}

func (ko *keyOrder) recycleLocked(d *Delivery) {
	if !ko.owner.Load() {
		ko.free.PushBack(d)
	}
}

// giveBackAll hands what the stopped consumer holds back to its source,
// in the order it took it.
func (ko *keyOrder) giveBackAll() {
	ko.mu.Lock()
	var items []keyItem
	for _, line := range ko.lines {
		if r := line.retry; r != nil {
			if r.timer != nil {
				r.timer.Stop()
			}
			items = append(items, r.item)
		}
		for line.q.Len() > 0 {
			it, _ := line.q.PopFront()
			items = append(items, it)
		}
	}
	clear(ko.lines)
	ko.mu.Unlock()
	slices.SortFunc(items, func(a, b keyItem) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	if len(items) > 0 {
		ko.src.giveBack(items)
	}
}

// keyOrderOf returns the key-ordering consumer d was handed out by, if any.
func (d *Delivery) keyOrderOf() *keyOrder {
	if d.owner == nil {
		return nil
	}
	return d.owner.keys
}

// acquireTake waits for the turn to take, yielding a few times before it
// parks: the worker taking now is usually about to hand over.
func (ko *keyOrder) acquireTake(ctx context.Context) bool {
	for range maxSpins {
		select {
		case ko.taking <- struct{}{}:
			return true
		default:
		}
		runtime.Gosched()
	}
	select {
	case ko.taking <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}
