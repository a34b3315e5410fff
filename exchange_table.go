package herald

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/match"
)

// An exchange's bindings, and the routing tables publishes read.
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
