package herald

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/match"
)

// Routing: an exchange's bindings, the routing tables publishes read, how a
// message is matched against them, and the walk through bound exchanges to
// the queues and topics that get it. exchange.go holds the API that leads
// here (Bind, Unbind, Publish).
//
// Bind and Unbind change one binding at a time, under Exchange.mu, in time
// that does not grow with the exchange's other bindings (except Unbind on
// fanout and headers exchanges, which copy one list). Publishes take no
// lock: they read an immutable table, or structures that change one entry
// at a time (a direct exchange's map of keys, a topic exchange's trie,
// which Match reads under its own read lock).

// routeCacheKeys bounds how many routing keys a topic exchange remembers
// the destinations of, per change of its bindings.
const routeCacheKeys = 4096

// binding is one Bind call's outcome, identified by (dest, key).
type binding struct {
	dest      string
	key       string
	t         *target
	transform Transform
	headers   Headers // headers exchanges: a private copy, never changed
	any       bool
}

type bindingKey struct{ dest, key string }

// target is one destination of an exchange, shared by its bindings. It
// exists from its first binding to the removal of its last.
type target struct {
	name string
	d    destination
	x    *Exchange // d, if it is an exchange
	// seq orders destinations by when they were first bound: the order
	// every kind delivers in.
	seq uint64
	// transform is the earliest binding's; see WithTransform.
	transform atomic.Pointer[Transform]
	bindings  []*binding // in binding order; guarded by Exchange.mu
}

func (t *target) transformFn() Transform {
	if p := t.transform.Load(); p != nil {
		return *p
	}
	return nil
}

// table is what publishes route with. The table itself never changes;
// Bind and Unbind store a new one. targets and headers may share their
// backing arrays with later tables, which only append beyond their length.
type table struct {
	kind ExchangeKind
	// viaExchange is set when a target is an exchange, which means routing
	// must walk the graph and de-duplicate across exchanges. Direct and
	// topic exchanges look at the targets matched instead.
	viaExchange bool
	targets     []*target             // fanout: every target, in seq order
	direct      *sync.Map             // direct: key → []*target in seq order, each slice never changed
	cache       *match.Cache[*target] // topic: over the exchange's trie
	headers     []headerRule          // headers: in binding order
}

type headerRule struct {
	b   *binding
	h   Headers
	any bool
}

// routes is the mutable side of an exchange's bindings, guarded by
// Exchange.mu.
type routes struct {
	bindings   map[bindingKey]*binding
	targets    map[destination]*target
	seq        uint64
	exchanges  int // targets that are exchanges
	trie       *match.Trie[*target]
	directKeys *sync.Map
}

func newRoutes(kind ExchangeKind) (routes, *table) {
	r := routes{bindings: map[bindingKey]*binding{}, targets: map[destination]*target{}}
	t := &table{kind: kind}
	switch kind {
	case DirectExchange:
		r.directKeys = new(sync.Map)
		t.direct = r.directKeys
	case TopicExchange:
		r.trie = match.NewTrie[*target]()
		t.cache = match.NewCache(r.trie, routeCacheKeys)
	}
	return r, t
}

// addLocked adds nb, whose (dest, key) is not bound, as a binding to d, and
// returns the table to store.
func (r *routes) addLocked(cur *table, nb *binding, d destination) (*table, error) {
	tg := r.targets[d]
	isNew := tg == nil
	if isNew {
		tg = &target{name: nb.dest, d: d, seq: r.seq}
		tg.x, _ = d.(*Exchange)
		if nb.transform != nil {
			fn := nb.transform
			tg.transform.Store(&fn)
		}
	}
	nb.t = tg
	next := *cur
	switch cur.kind {
	case DirectExchange:
		var ts []*target
		if v, ok := r.directKeys.Load(nb.key); ok {
			ts = v.([]*target)
		}
		i, _ := slices.BinarySearchFunc(ts, tg.seq, func(t *target, seq uint64) int { return cmp.Compare(t.seq, seq) })
		r.directKeys.Store(nb.key, slices.Insert(slices.Clip(ts), i, tg))
	case FanoutExchange:
		if isNew {
			next.targets = append(cur.targets, tg)
		}
	case TopicExchange:
		if err := r.trie.Add(nb.key, tg); err != nil {
			return nil, err
		}
		next.cache = match.NewCache(r.trie, routeCacheKeys)
	case HeadersExchange:
		next.headers = append(cur.headers, headerRule{b: nb, h: nb.headers, any: nb.any})
	}
	if isNew {
		r.seq++
		r.targets[tg.d] = tg
		if tg.x != nil {
			r.exchanges++
		}
	}
	tg.bindings = append(tg.bindings, nb)
	r.bindings[bindingKey{nb.dest, nb.key}] = nb
	next.viaExchange = r.exchanges > 0
	return &next, nil
}

// removeLocked removes the bound ob and returns the table to store.
func (r *routes) removeLocked(cur *table, ob *binding) *table {
	tg := ob.t
	delete(r.bindings, bindingKey{ob.dest, ob.key})
	i := slices.Index(tg.bindings, ob)
	tg.bindings = slices.Delete(tg.bindings, i, i+1)
	last := len(tg.bindings) == 0
	next := *cur
	switch cur.kind {
	case DirectExchange:
		v, _ := r.directKeys.Load(ob.key)
		ts := slices.DeleteFunc(slices.Clone(v.([]*target)), func(t *target) bool { return t == tg })
		if len(ts) == 0 {
			r.directKeys.Delete(ob.key)
		} else {
			r.directKeys.Store(ob.key, ts)
		}
	case FanoutExchange:
		if last {
			next.targets = slices.DeleteFunc(slices.Clone(cur.targets), func(t *target) bool { return t == tg })
		}
	case TopicExchange:
		r.trie.Remove(ob.key, tg)
		next.cache = match.NewCache(r.trie, routeCacheKeys)
	case HeadersExchange:
		next.headers = slices.DeleteFunc(slices.Clone(cur.headers), func(h headerRule) bool { return h.b == ob })
	}
	if last {
		delete(r.targets, tg.d)
		if tg.x != nil {
			r.exchanges--
		}
	} else if i == 0 {
		// The earliest binding went: the next one's transform applies.
		var p *Transform
		if fn := tg.bindings[0].transform; fn != nil {
			p = &fn
		}
		tg.transform.Store(p)
	}
	next.viaExchange = r.exchanges > 0
	return &next
}

// match returns the table's targets that m matches, in target order. The
// result may be shared and must not be modified; buf is scratch space for
// kinds that cannot share.
func (t *table) match(m *Message, buf []*target) []*target {
	switch t.kind {
	case DirectExchange:
		if v, ok := t.direct.Load(m.Key); ok {
			return v.([]*target)
		}
		return nil
	case FanoutExchange:
		return t.targets
	case TopicExchange:
		return t.cache.Get(m.Key)
	case HeadersExchange:
		return t.matchHeaders(m.Headers, buf)
	}
	return nil
}

// reachesExchange reports whether ts, which t matched, holds an exchange.
func (t *table) reachesExchange(ts []*target) bool {
	switch t.kind {
	case DirectExchange, TopicExchange:
		// Matched from structures that change under the table: look.
		return slices.ContainsFunc(ts, func(t *target) bool { return t.x != nil })
	}
	return t.viaExchange
}

// matchHeaders appends the targets of the rules h matches to buf, each
// once, in target order.
func (t *table) matchHeaders(h Headers, buf []*target) []*target {
	start := len(buf)
	var seen map[*target]struct{}
	for _, r := range t.headers {
		var ok bool
		if r.any {
			ok = match.MatchHeadersAny(r.h, h)
		} else {
			ok = match.MatchHeadersAll(r.h, h)
		}
		if !ok {
			continue
		}
		tg := r.b.t
		if seen != nil {
			if _, dup := seen[tg]; dup {
				continue
			}
			seen[tg] = struct{}{}
		} else if slices.Contains(buf[start:], tg) {
			continue
		}
		buf = append(buf, tg)
		if seen == nil && len(buf)-start > smallMax {
			seen = make(map[*target]struct{}, 2*smallMax)
			for _, x := range buf[start:] {
				seen[x] = struct{}{}
			}
		}
	}
	slices.SortFunc(buf[start:], func(a, b *target) int { return cmp.Compare(a.seq, b.seq) })
	return buf
}

// put routes a stamped message; internal is passed on to every destination.
func (e *Exchange) put(ctx context.Context, m *Message, internal bool) error {
	t := e.table.Load()
	var buf [8]*target
	ts := t.match(m, buf[:0])
	if len(ts) > 0 && !t.reachesExchange(ts) {
		// The usual case: the targets are distinct queues and topics.
		if e.watch.Load() != nil {
			e.notifyObservers(ctx, m, internal)
		}
		return e.deliver(ctx, m, internal, ts)
	}
	// ts may live in buf, which must not leak into route's bookkeeping, or
	// buf would be on the heap for every publish.
	var outBuf [16]*target
	var xsBuf [8]*Exchange
	out, xs, altErr := e.route(m, t, outBuf[:0], xsBuf[:0])
	if len(out) == 0 {
		return e.unroutable(m, altErr)
	}
	for _, x := range xs {
		x.notifyObservers(ctx, m, internal)
	}
	return e.deliver(ctx, m, internal, out)
}

// deliver puts m into each of ts in turn, and reports those that refused.
func (e *Exchange) deliver(ctx context.Context, m *Message, internal bool, ts []*target) error {
	var failed []DestError
	for _, t := range ts {
		msg := m
		if fn := t.transformFn(); fn != nil {
			out, err := e.b.transform(fn, m)
			if err != nil {
				failed = append(failed, DestError{Dest: t.name, Err: err})
				continue
			}
			msg = out
		}
		if err := t.d.put(ctx, msg, internal); err != nil {
			failed = append(failed, DestError{Dest: t.name, Err: err})
		}
	}
	if failed == nil {
		return nil
	}
	return &RouteError{Exchange: e.name, Delivered: len(ts) - len(failed), Failed: failed}
}

func (e *Exchange) unroutable(m *Message, altErr error) error {
	var what string
	switch e.xkind {
	case FanoutExchange:
		what = "the message"
	case HeadersExchange:
		what = fmt.Sprintf("headers %v", map[string]string(m.Headers))
	default:
		what = fmt.Sprintf("key %q", m.Key)
	}
	if altErr != nil {
		return because(ErrUnroutable, altErr, "exchange %q routed %s to no queue or topic", e.name, what)
	}
	return fmt.Errorf("%w: exchange %q routed %s to no queue or topic", ErrUnroutable, e.name, what)
}

// route walks the graph of exchanges from e, whose table is t, as
// RabbitMQ does: each exchange is visited once, and one whose bindings match
// nothing hands the message to its alternate exchange. It appends to out
// the queues and topics reached, each once, depth first in binding order,
// and returns the first reason an alternate exchange was unusable, and,
// appended to xs, the exchanges visited.
//
// It is one loop over local slices, rather than recursion over a shared
// struct, so that its buffers stay on the stack.
func (e *Exchange) route(m *Message, t *table, out []*target, xs []*Exchange) ([]*target, []*Exchange, error) {
	var (
		stackBuf [8][]*target           // per exchange being visited: targets left
		xmap     map[*Exchange]struct{} // visited, once xs is long
		dmap     map[destination]struct{}
		altErr   error
	)
	stack := stackBuf[:0]
	x, ts := e, t.match(m, nil)
	for x != nil {
		xs, xmap = addSmall(xs, xmap, x)
		if len(ts) > 0 {
			stack = append(stack, ts)
		} else if ax, err := x.alternateExchange(); err != nil {
			altErr = cmp.Or(altErr, err)
		} else if ax != nil && !hasSmall(xs, xmap, ax) {
			x, ts = ax, ax.table.Load().match(m, nil)
			continue
		}
		x = nil
		for x == nil && len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(*top) == 0 {
				stack = stack[:len(stack)-1]
				continue
			}
			t := (*top)[0]
			*top = (*top)[1:]
			switch {
			case t.x == nil:
				if !hasDest(out, dmap, t.d) {
					out = append(out, t)
					dmap = addDest(out, dmap, t.d)
				}
			case !hasSmall(xs, xmap, t.x):
				x = t.x
				ts = x.table.Load().match(m, nil)
			}
		}
	}
	return out, xs, altErr
}

// Sets for route: scanning a short slice beats hashing for the few
// exchanges and destinations a message usually meets, and can use a stack
// buffer; past smallMax entries a map takes over.
const smallMax = 32

func hasSmall[T comparable](list []T, m map[T]struct{}, v T) bool {
	if m != nil {
		_, ok := m[v]
		return ok
	}
	return slices.Contains(list, v)
}

// addSmall adds v, known to be absent.
func addSmall[T comparable](list []T, m map[T]struct{}, v T) ([]T, map[T]struct{}) {
	list = append(list, v)
	return list, indexSmall(list, m, v, func(x T) T { return x })
}

func hasDest(out []*target, m map[destination]struct{}, d destination) bool {
	if m != nil {
		_, ok := m[d]
		return ok
	}
	for _, t := range out {
		if t.d == d {
			return true
		}
	}
	return false
}

// addDest records d, just appended to out.
func addDest(out []*target, m map[destination]struct{}, d destination) map[destination]struct{} {
	return indexSmall(out, m, d, func(t *target) destination { return t.d })
}

// indexSmall adds v, just appended to list, to m, making m from list when
// list has grown past smallMax.
func indexSmall[E any, T comparable](list []E, m map[T]struct{}, v T, key func(E) T) map[T]struct{} {
	switch {
	case m != nil:
		m[v] = struct{}{}
	case len(list) > smallMax:
		m = make(map[T]struct{}, 2*len(list))
		for _, x := range list {
			m[key(x)] = struct{}{}
		}
	}
	return m
}
