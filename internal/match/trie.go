package match

import (
	"cmp"
	"slices"
	"sync"
)

// Trie matches routing keys against a set of topic patterns that [Trie.Add]
// and [Trie.Remove] change one at a time, each in time proportional to the
// pattern's words, so that binding n patterns costs O(n), not O(n²) as
// rebuilding on every change would. It is safe for concurrent use: Match
// calls share a read lock and run in parallel; Add and Remove hold the
// write lock briefly. A nil *Trie matches nothing.
type Trie[V comparable] struct {
	mu    sync.RWMutex
	root  *node
	bound map[binding[V]]struct{}
	ids   map[V]int32 // bound values' ids; nodes refer to values by id
	vals  []V         // by id; the zero V for a free id
	order []uint64    // by id: the value's place in the order values were first added
	refs  []int32     // by id: patterns bound to the value
	free  []int32     // ids to reuse
	seq   uint64      // the next order
	nhash int         // '#' node ids handed out
	hfree []int       // '#' node ids to reuse
}

// node is one word position in the patterns. Values live in the Trie, not in
// the node, so that matching can de-duplicate them by id in O(1).
type node struct {
	lit    map[string]*node
	star   *node
	hash   *node
	hashID int     // index into scratch.hash; only for nodes a '#' leads to
	vals   []int32 // ids of the values of the patterns that end here
}

func (n *node) empty() bool {
	return len(n.vals) == 0 && len(n.lit) == 0 && n.star == nil && n.hash == nil
}

// binding is one (pattern, value) pair.
type binding[V comparable] struct {
	pattern string
	v       V
}

// NewTrie returns a Trie with no patterns.
func NewTrie[V comparable]() *Trie[V] {
	return &Trie[V]{root: &node{}, bound: map[binding[V]]struct{}{}, ids: map[V]int32{}}
}

// Add binds v to pattern, or returns the [ValidatePattern] error and changes
// nothing. Binding the same value to the same pattern twice is one binding,
// as in AMQP where a repeated queue.bind is a no-op.
func (t *Trie[V]) Add(pattern string, v V) error {
	if err := ValidatePattern(pattern); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := binding[V]{pattern, v}
	if _, dup := t.bound[k]; dup {
		return nil
	}
	t.bound[k] = struct{}{}
	n := t.root
	for _, w := range split(pattern) {
		n = t.child(n, w)
	}
	id, ok := t.ids[v]
	if !ok {
		id = t.newID(v)
	}
	t.refs[id]++
	n.vals = append(n.vals, id)
	return nil
}

// newID gives v an id, placed after every value bound so far.
func (t *Trie[V]) newID(v V) int32 {
	var id int32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.vals[id], t.order[id], t.refs[id] = v, t.seq, 0
	} else {
		id = int32(len(t.vals))
		t.vals, t.order, t.refs = append(t.vals, v), append(t.order, t.seq), append(t.refs, 0)
	}
	t.seq++
	t.ids[v] = id
	return id
}

// Remove unbinds v from pattern and reports whether it was bound. A value
// bound again after its last pattern was removed comes after every value
// bound meanwhile, as a new one would.
func (t *Trie[V]) Remove(pattern string, v V) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := binding[V]{pattern, v}
	if _, ok := t.bound[k]; !ok {
		return false
	}
	delete(t.bound, k)
	words := split(pattern)
	path := make([]*node, 0, len(words)+1)
	n := t.root
	path = append(path, n)
	for _, w := range words {
		switch w {
		case "*":
			n = n.star
		case "#":
			n = n.hash
		default:
			n = n.lit[w]
		}
		path = append(path, n)
	}
	id := t.ids[v]
	if i := slices.Index(n.vals, id); i >= 0 {
		n.vals = slices.Delete(n.vals, i, i+1)
	}
	if t.refs[id]--; t.refs[id] == 0 {
		delete(t.ids, v)
		var zero V
		t.vals[id] = zero
		t.free = append(t.free, id)
	}
	// Prune the nodes the pattern alone kept.
	for i := len(words); i > 0 && path[i].empty(); i-- {
		parent, w := path[i-1], words[i-1]
		switch w {
		case "*":
			parent.star = nil
		case "#":
			t.hfree = append(t.hfree, parent.hash.hashID)
			parent.hash = nil
		default:
			delete(parent.lit, w)
		}
	}
	return true
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
			n.hash = &node{hashID: t.newHashID()}
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

func (t *Trie[V]) newHashID() int {
	if n := len(t.hfree); n > 0 {
		id := t.hfree[n-1]
		t.hfree = t.hfree[:n-1]
		return id
	}
	t.nhash++
	return t.nhash - 1
}

// Builder collects bindings for a Trie. It is not safe for concurrent use.
// The zero value is ready to use.
type Builder[V comparable] struct {
	list []binding[V]
}

// NewBuilder returns an empty Builder.
func NewBuilder[V comparable]() *Builder[V] { return &Builder[V]{} }

// Add binds v to pattern, or returns the [ValidatePattern] error and changes
// nothing.
func (b *Builder[V]) Add(pattern string, v V) error {
	if err := ValidatePattern(pattern); err != nil {
		return err
	}
	b.list = append(b.list, binding[V]{pattern, v})
	return nil
}

// Build returns a Trie of the bindings added so far. The Builder may go on
// being used; later additions do not affect the returned Trie.
func (b *Builder[V]) Build() *Trie[V] {
	t := NewTrie[V]()
	for _, bd := range b.list {
		t.Add(bd.pattern, bd.v) // validated by Builder.Add
	}
	return t
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
// at. Values come in the order they were first added (see [Trie.Remove]),
// so that an exchange can promise to deliver in binding order whatever the
// shape of the patterns. Match does not allocate when dst has room for the
// result.
//
// The cost is at most proportional to the number of trie nodes times the
// number of words in key, however many '#' the patterns hold, because each
// (node, word position) state is visited at most once.
func (t *Trie[V]) Match(key string, dst []V) []V {
	if t == nil {
		return dst
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.ids) == 0 {
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
	if len(sc.ids) > 1 {
		order := t.order
		slices.SortFunc(sc.ids, func(a, b int32) int { return cmp.Compare(order[a], order[b]) })
	}
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
