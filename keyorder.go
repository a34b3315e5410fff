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
// A key is never stuck behind another: the consumer takes messages from
// the source in batches (up to 64, at most half of those ready, locking
// the queue once; one at a time with an ack timeout), sets each aside
// behind its key, and a free handler goroutine claims a key with
// messages waiting and runs them in order, so a slow, blocked or
// backing-off key holds up only its own messages, whatever the keys hash
// to.
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
// message held, and for at most twice that many keys whose last message
// ended most recently (so that a key seen again soon costs no new
// state): millions of distinct keys cost nothing beyond that. One key
// with that many messages waiting behind a blocked one does stop the
// consumer from taking more: raise WithPrefetch, or dead-letter sooner
// with [WithMaxDeliveries].
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
	// takeAhead makes d carry the next message take left in buf, without
	// waiting; false when that one ended instead (expired, or dropped by
	// a transform).
	takeAhead(d *Delivery, counts *settleCounts, buf *prefetchBuf) bool
	// giveBack puts what a stopping consumer holds back at the head, in
	// order: deliveries never handed to a handler, and held nacks (d nil).
	giveBack(items []keyItem)
	redelivery() *redeliveryConfig
}

// keyBatch is how many messages the consumer takes at most at once.
const keyBatch = 64

// keyOrder is the state of one Consume call WithKeyOrdering. Guarded by
// mu, which is never held while user code runs or a source's lock is
// taken (except by dueLocked, which only cancels a context).
//
// One worker at a time takes (the taker), a batch of messages under one
// lock of the source, and sets each aside behind its key, in the order
// taken: on its line. A line with messages that no worker runs is ready;
// a worker claims a whole line and runs its messages one after another,
// so that a message costs one lock of mu, whoever runs it.
type keyOrder struct {
	src    keyedSource
	b      *Broker
	owner  *handout
	limit  int
	timing bool         // the source has an ack timeout
	buf    *prefetchBuf // the taker's; nil: take one at a time

	mu       sync.Mutex
	cond     sync.Cond                     // idle workers
	lines    map[string]*keyLine           // keys with a message held, or parked
	parked   ring.Ring[parkedLine]         // lines in the order they were parked
	ready    ring.Ring[*keyLine]           // lines with messages to run and no owner
	runnable ring.Ring[*keyLine]           // lines whose retry is due
	held     int                           // messages held, and the taker's reservation
	reserved int                           // held for the take under way
	seq      uint64                        // take order, for giving back
	taker    *keyWorker                    // the worker inside take, if any
	missed   uint64                        // a subscription's lag, for the next delivery
	batch    []*Delivery                   // the taker's deliveries to take into
	ctxs     map[*Delivery]context.Context // with an ack timeout: each held delivery's
	free     ring.Ring[*Delivery]          // deliveries to reuse, after ringLen more
	spare    []*keyLine
	idle     int // workers waiting on cond
	woken    int // of them, signalled and not yet running
	stopping bool
}

// keyLine is one key's messages held by the consumer, or, for a message
// without a key, that one alone (not in lines).
type keyLine struct {
	key   string
	owned bool       // a worker runs its messages
	ready bool       // listed in ready (entries of lines not ready are stale)
	park  bool       // empty, kept for its key's next message
	gen   uint32     // times parked, to tell stale entries of parked
	cur   laneItem   // the one in a handler, while owned
	nackd bool       // cur was nacked and is held as retry
	retry *heldRetry // a nacked message, which goes first
	q     ring.Ring[laneItem]
}

// laneItem is a message set aside on a line: small, as a line's ring
// moves it twice.
type laneItem struct {
	d   *Delivery
	seq uint64
}

// parkedLine is an entry of keyOrder.parked: stale unless line is still
// parked as its gen-th time.
type parkedLine struct {
	line *keyLine
	gen  uint32
}

// keyItem is a message the consumer gives back: a delivery, or, with d
// nil, a nacked message e.
type keyItem struct {
	d   *Delivery
	e   entry
	seq uint64
}

type heldRetry struct {
	item  keyItem // e and seq
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
		lines: map[string]*keyLine{}}
	if ko.timing {
		ko.ctxs = map[*Delivery]context.Context{}
	}
	if p, ok := src.(prefetcher); ok && limit > 1 {
		ko.buf = p.prefetchBuf(min(keyBatch, limit))
	}
	ko.batch = make([]*Delivery, 0, keyBatch)
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

// work is one handler goroutine: run a line whose retry is due, else a
// ready line, else take a batch if no other worker is taking and there
// is room, else wait for one of those.
func (ko *keyOrder) work(ctx context.Context, kw *keyWorker, h Handler) error {
	spins := 0
	ko.mu.Lock()
	for {
		if err := ctx.Err(); err != nil {
			ko.wakeLocked() // what this worker would have done
			ko.mu.Unlock()
			return err
		}
		if kw.tctx.Err() != nil { // called back: a retry is due
			kw.tstop()
			kw.tctx, kw.tstop = context.WithCancel(ctx)
		}
		if line, ok := ko.runnable.PopFront(); ok {
			spins = 0
			ko.wakeLocked()
			ko.runRetry(ctx, kw, line, h)
			continue
		}
		if line := ko.claimReadyLocked(); line != nil {
			spins = 0
			ko.wakeLocked()
			item, _ := line.q.PopFront()
			line.cur = item
			ko.mu.Unlock()
			ko.runLine(ctx, line, item, h)
			continue
		}
		if ko.taker == nil && ko.held < ko.limit {
			if err := ko.takeLocked(ctx, kw); err != nil {
				ko.wakeLocked() // another worker takes, or stops too
				ko.mu.Unlock()
				return err
			}
			continue
		}
		if ko.taker != nil && spins < maxSpins {
			// The taker is usually about to set lines aside: yielding a
			// few times costs less than waiting and being woken.
			spins++
			ko.mu.Unlock()
			runtime.Gosched()
			ko.mu.Lock()
			continue
		}
		spins = 0
		ko.idle++
		ko.cond.Wait()
		ko.idle--
		if ko.woken > 0 {
			ko.woken--
		}
	}
}

// claimReadyLocked returns a ready line for the caller to run, owned, or
// nil.
func (ko *keyOrder) claimReadyLocked() *keyLine {
	for {
		line, ok := ko.ready.PopFront()
		if !ok {
			return nil
		}
		if !line.ready {
			continue // stale: claimed or dropped since
		}
		line.ready = false
		if line.owned || line.retry != nil || line.q.Len() == 0 {
			continue // its owner, or its retry, runs it
		}
		line.owned = true
		return line
	}
}

// readyLocked lists line as ready, unless it is already.
func (ko *keyOrder) readyLocked(line *keyLine) {
	if !line.ready {
		line.ready = true
		ko.ready.PushBack(line)
	}
}

// wakeLocked wakes an idle worker when there is work that the running
// ones may not come to soon: a line to run, or a take to make. Each woken
// worker calls it again as it picks its work, so that one wake per event
// is enough.
func (ko *keyOrder) wakeLocked() {
	if ko.idle <= ko.woken || ko.stopping {
		return
	}
	if ko.runnable.Len() > 0 || ko.ready.Len() > 0 || (ko.taker == nil && ko.held < ko.limit) {
		ko.woken++
		ko.cond.Signal()
	}
}

// takeLocked takes a batch of messages, at least one, as kw, and sets
// each aside behind its key. It unlocks mu meanwhile, and returns with
// it locked, and nil also when called back for a due retry or after a
// lag.
func (ko *keyOrder) takeLocked(ctx context.Context, kw *keyWorker) error {
	n := 1
	if ko.buf != nil {
		n = min(keyBatch, ko.limit-ko.held)
	}
	ko.taker, ko.reserved = kw, n
	ko.held += n
	ds := ko.batch[:0]
	for range n {
		ds = append(ds, ko.deliveryLocked())
	}
	tctx := kw.tctx
	ko.mu.Unlock()

	d := ds[0]
	var dctx context.Context
	if ko.timing {
		dctx, d.cancel = context.WithCancelCause(ctx)
	}
	var buf *prefetchBuf
	if n > 1 {
		buf = ko.buf
		buf.max = n
	}
	err := ko.src.take(tctx, kw.w, d, kw.counts, buf)
	got := 0
	if err == nil {
		got = 1
		for buf != nil && buf.Len() > 0 {
			if ko.src.takeAhead(ds[got], kw.counts, buf) {
				ds[got].Missed = 0
				got++
			}
		}
	}

	ko.mu.Lock()
	ko.taker, ko.reserved = nil, 0
	ko.held -= n - got
	for _, d := range ds[got:] {
		ko.recycleLocked(d)
	}
	clear(ds[got:])
	if err != nil {
		if d.cancel != nil {
			d.cancel(nil)
			d.cancel = nil
		}
		if lag, ok := err.(*LagError); ok {
			ko.missed += lag.Missed
			return nil
		}
		if ctx.Err() == nil && tctx.Err() != nil {
			return nil // called back for a due retry
		}
		return err
	}
	d.Missed, ko.missed = ko.missed, 0
	if dctx != nil {
		ko.ctxs[d] = dctx
	}
	for _, d := range ds[:got] {
		var line *keyLine
		if d.Key == "" {
			line = ko.newLineLocked()
		} else {
			line = ko.lineLocked(d.Key)
		}
		line.q.PushBack(laneItem{d: d, seq: ko.seq})
		ko.seq++
		if !line.owned && line.retry == nil {
			ko.readyLocked(line)
		}
	}
	clear(ds[:got])
	ko.wakeLocked()
	return nil
}

// runRetry runs the due retry of line, then the messages set aside
// behind it. Called with mu locked; returns with it locked.
func (ko *keyOrder) runRetry(ctx context.Context, kw *keyWorker, line *keyLine, h Handler) {
	r := line.retry
	line.retry, line.owned, line.ready = nil, true, false
	d := ko.deliveryLocked()
	ko.mu.Unlock()
	d.Missed = 0
	item := laneItem{d: d, seq: r.item.seq}
	var dctx context.Context
	if ko.timing {
		dctx, d.cancel = context.WithCancelCause(ctx)
	}
	if !ko.src.redeliverHeld(r.item.e, d, kw.counts) {
		if d.cancel != nil {
			d.cancel(nil)
			d.cancel = nil
		}
		ko.mu.Lock()
		ko.held--
		ko.recycleLocked(d)
		var ok bool
		if item, ok = ko.nextLocked(ctx, line); !ok {
			return
		}
		ko.mu.Unlock()
	} else {
		ko.mu.Lock()
		line.cur = item
		if dctx != nil {
			ko.ctxs[d] = dctx
		}
		ko.mu.Unlock()
	}
	ko.runLine(ctx, line, item, h)
}

// runLine runs item, line's current message, then the messages set aside
// behind it, until line is empty, blocked by a nack, or the consumer
// stops. The caller owns line. Called with mu unlocked; returns with it
// locked.
func (ko *keyOrder) runLine(ctx context.Context, line *keyLine, item laneItem, h Handler) {
	for {
		hctx := ctx
		if ko.timing {
			ko.mu.Lock()
			if c := ko.ctxs[item.d]; c != nil {
				hctx = c
				delete(ko.ctxs, item.d)
			}
			ko.mu.Unlock()
		}
		ko.run(hctx, item.d, h)
		ko.mu.Lock()
		if !line.nackd { // it ended
			ko.held--
			ko.wakeLocked() // room to take
		}
		line.cur, line.nackd = laneItem{}, false
		ko.recycleLocked(item.d)
		var ok bool
		if item, ok = ko.nextLocked(ctx, line); !ok {
			return
		}
		ko.mu.Unlock()
	}
}

// nextLocked returns the next message of line for its owner to run, made
// line's current one, or gives line up: when it is empty, blocked by a
// retry (scheduled now), or the consumer stops.
func (ko *keyOrder) nextLocked(ctx context.Context, line *keyLine) (laneItem, bool) {
	if line.retry != nil {
		line.owned = false
		ko.scheduleLocked(line)
		return laneItem{}, false
	}
	for line.q.Len() > 0 && ctx.Err() == nil {
		next, _ := line.q.PopFront()
		if next.d.settled() == settledNone {
			line.cur = next
			return next, true
		}
		// Its ack timeout passed while it waited: the queue has it back.
		if c := ko.ctxs[next.d]; c != nil {
			next.d.cancel = nil // cancelled by the timeout
			delete(ko.ctxs, next.d)
		}
		ko.held--
		ko.recycleLocked(next.d)
		ko.wakeLocked()
	}
	line.owned = false
	if line.q.Len() == 0 {
		ko.dropLocked(line)
	}
	return laneItem{}, false
}

// run hands item to h and settles it by h's result. A nack, by the result
// or by h itself, comes to nack, which sets the line's retry.
func (ko *keyOrder) run(ctx context.Context, d *Delivery, h Handler) {
	ko.b.observeDeliver(ctx, d, true)
	err := ko.b.call(ctx, h, d)
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
	line := ko.lineLocked(d.Key)
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
	// A worker waiting on cond runs it; else the one inside take is
	// called back, so that a blocked handler elsewhere never delays it.
	if ko.idle > ko.woken {
		ko.woken++
		ko.cond.Signal()
		return
	}
	if ko.taker != nil {
		ko.taker.tstop()
	}
}

// lineLocked returns key's line: the one listed in lines, parked or not,
// or a new one.
func (ko *keyOrder) lineLocked(key string) *keyLine {
	if line := ko.lines[key]; line != nil {
		line.park = false // its entry in parked is stale now
		return line
	}
	line := ko.newLineLocked()
	line.key = key
	ko.lines[key] = line
	return line
}

// newLineLocked returns a new line, not listed: for a message without a
// key.
func (ko *keyOrder) newLineLocked() *keyLine {
	if n := len(ko.spare); n > 0 {
		line := ko.spare[n-1]
		ko.spare = ko.spare[:n-1]
		return line
	}
	return new(keyLine)
}

// dropLocked parks an empty line, for its key's next message, and
// forgets the line parked longest ago once more than twice limit are: a
// key seen again soon costs no map insert and delete per message, and
// keys seen once cost at most that many lines.
func (ko *keyOrder) dropLocked(line *keyLine) {
	line.ready = false
	if line.key == "" {
		ko.spareLocked(line)
		return
	}
	line.park = true
	line.gen++
	ko.parked.PushBack(parkedLine{line, line.gen})
	for ko.parked.Len() > 2*ko.limit {
		p, _ := ko.parked.PopFront()
		if p.line.park && p.line.gen == p.gen {
			delete(ko.lines, p.line.key)
			ko.spareLocked(p.line)
		}
	}
}

// spareLocked keeps a forgotten line for reuse.
func (ko *keyOrder) spareLocked(line *keyLine) {
	line.key, line.park = "", false // gen goes on: entries of parked may be left
	if len(ko.spare) < 4*keyBatch {
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
	collect := func(line *keyLine) {
		if r := line.retry; r != nil {
			if r.timer != nil {
				r.timer.Stop()
			}
			items = append(items, r.item)
			line.retry = nil
		}
		for line.q.Len() > 0 {
			it, _ := line.q.PopFront()
			items = append(items, keyItem{d: it.d, seq: it.seq})
		}
	}
	for _, line := range ko.lines {
		collect(line)
	}
	for ko.ready.Len() > 0 { // messages without a key are only there
		line, _ := ko.ready.PopFront()
		collect(line)
	}
	clear(ko.lines)
	ko.mu.Unlock()
	if ko.buf != nil && ko.buf.Len() > 0 {
		ko.src.(prefetcher).unprefetch(ko.buf) // taken after all the rest
	}
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
