package match

import (
	"slices"
	"sync"
)

// Trie matches routing keys against a fixed set of topic patterns. It is
// immutable once built, so any number of goroutines may call Match at once
// without locking; an exchange publishes a new Trie to change its bindings.
// A nil *Trie matches nothing.
type Trie[V comparable] struct {
	root  *node
	vals  []V // distinct bound values; nodes refer to them by index
	nhash int // number of nodes reached by a '#' edge
}

// node is one word position in the patterns. Values live in the Trie, not in
// the node, so that matching can de-duplicate them by index in O(1).
type node struct {
	lit    map[string]*node
	star   *node
	hash   *node
	hashID int     // index into scratch.hash; only for nodes a '#' leads to
	vals   []int32 // indexes into Trie.vals of patterns that end here
}

// binding is one (pattern, value) pair given to a Builder.
type binding[V comparable] struct {
	pattern string
	v       V
}

// Builder collects bindings for a Trie. It is not safe for concurrent use.
// The zero value is ready to use.
type Builder[V comparable] struct {
	list []binding[V]
	seen map[binding[V]]struct{}
}

// NewBuilder returns an empty Builder.
func NewBuilder[V comparable]() *Builder[V] { return &Builder[V]{} }

// Add binds v to pattern, or returns the [ValidatePattern] error and changes
// nothing. Binding the same value to the same pattern twice is one binding,
// as in AMQP where a repeated queue.bind is a no-op.
func (b *Builder[V]) Add(pattern string, v V) error {
	if err := ValidatePattern(pattern); err != nil {
		return err
	}
	k := binding[V]{pattern, v}
	if _, dup := b.seen[k]; dup {
		return nil
	}
	if b.seen == nil {
		b.seen = make(map[binding[V]]struct{})
	}
	b.seen[k] = struct{}{}
	b.list = append(b.list, k)
	return nil
}

// Build returns a Trie of the bindings added so far. The Builder may go on
// being used; later additions do not affect the returned Trie.
func (b *Builder[V]) Build() *Trie[V] {
	t := &Trie[V]{root: &node{}}
	index := make(map[V]int32, len(b.list))
	for _, bd := range b.list {
		n := t.root
		for _, w := range split(bd.pattern) {
			n = t.child(n, w)
		}
		id, ok := index[bd.v]
		if !ok {
			id = int32(len(t.vals))
			index[bd.v] = id
			t.vals = append(t.vals, bd.v)
		}
		n.vals = append(n.vals, id)
	}
	return t
}

// child returns n's child for pattern word w, creating it if need be.
func (t *Trie[V]) child(n *node, w string) *node {
	switch w {
	case "*":
		if n.star == nil {
			n.star = &node{}
		}
		return n.star
	case "#":
		if n.hash == nil {
			n.hash = &node{hashID: t.nhash}
			t.nhash++
		}
		return n.hash
	}
	c := n.lit[w]
	if c == nil {
		if n.lit == nil {
			n.lit = make(map[string]*node)
		}
		c = &node{}
		n.lit[w] = c
	}
	return c
}

// scratch is the per-call state of Match, pooled so that a warm Match does
// not allocate. Entries are stamped with the epoch of the call that wrote
// them, so nothing needs clearing between calls.
type scratch struct {
	epoch uint32
	seen  []uint32 // per value index: epoch in which it was matched
	hash  []uint32 // per '#' node: epoch in which it was expanded
	ids   []int32  // value indexes matched by this call
}

// scratchPool is shared by all Tries so that a freshly built generation
// starts with warm scratch space.
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// matcher walks one key through one Trie.
type matcher[V comparable] struct {
	t   *Trie[V]
	key string
	sc  *scratch
}

// Match appends to dst every distinct value bound to a pattern that matches
// key, and returns the extended slice. A value bound through several
// matching patterns is appended once; values already in dst are not looked
// at. Values come in the order they were first added to the Builder, so
// that an exchange can promise to deliver in binding order whatever the
// shape of the patterns. Match does not allocate when dst has room for the
// result.
//
// The cost is at most proportional to the number of trie nodes times the
// number of words in key, however many '#' the patterns hold, because each
// (node, word position) state is visited at most once.
func (t *Trie[V]) Match(key string, dst []V) []V {
	if t == nil || len(t.vals) == 0 {
		return dst
	}
	sc := scratchPool.Get().(*scratch)
	sc.begin(len(t.vals), t.nhash)
	m := matcher[V]{t: t, key: key, sc: sc}
	start := 0
	if key == "" {
		start = 1 // "" is zero words: start past the end.
	}
	m.walk(t.root, start)
	// Value indexes were assigned in first-Add order.
	slices.Sort(sc.ids)
	for _, id := range sc.ids {
		dst = append(dst, t.vals[id])
	}
	scratchPool.Put(sc)
	return dst
}

// begin readies sc for a call on a Trie with nvals values and nhash '#'
// nodes.
func (sc *scratch) begin(nvals, nhash int) {
	sc.epoch++
	if sc.epoch == 0 { // wrapped: old stamps could now look current
		clear(sc.seen)
		clear(sc.hash)
		sc.epoch = 1
	}
	if len(sc.seen) < nvals {
		sc.seen = make([]uint32, nvals)
	}
	if len(sc.hash) < nhash {
		sc.hash = make([]uint32, nhash)
	}
	sc.ids = sc.ids[:0]
}

// walk matches the words of the key from byte offset off onwards (past the
// end when none are left) against the patterns below n.
func (m *matcher[V]) walk(n *node, off int) {
	if off > len(m.key) {
		m.emit(n)
		if n.hash != nil { // '#' may match zero words
			m.walkHash(n.hash, off)
		}
		return
	}
	w, next := word(m.key, off)
	if c := n.lit[w]; c != nil {
		m.walk(c, next)
	}
	if n.star != nil {
		m.walk(n.star, next)
	}
	if n.hash != nil {
		m.walkHash(n.hash, off)
	}
}

// walkHash continues below the '#' node h with the '#' having swallowed 0,
// 1, 2... words from off.
//
// Expanding h once per call is enough, and is what keeps runs of '#' from
// costing exponential time. h is only reached through the expansion of its
// nearest '#' ancestor (or the root), which by the same argument runs once
// and tries offsets in increasing order, with a fixed number of words from
// there to h. So the first arrival at h has the smallest offset h is ever
// reached at, and expanding it covered every later offset too.
func (m *matcher[V]) walkHash(h *node, off int) {
	if m.sc.hash[h.hashID] == m.sc.epoch {
		return
	}
	m.sc.hash[h.hashID] = m.sc.epoch
	for {
		m.walk(h, off)
		if off > len(m.key) {
			return
		}
		_, off = word(m.key, off)
	}
}

// emit records the values of the patterns ending at n that this call has
// not recorded yet.
func (m *matcher[V]) emit(n *node) {
	for _, id := range n.vals {
		if m.sc.seen[id] != m.sc.epoch {
			m.sc.seen[id] = m.sc.epoch
			m.sc.ids = append(m.sc.ids, id)
		}
	}
}
