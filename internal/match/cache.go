package match

import (
	"strings"
	"sync"
)

// Cache remembers the result of [Trie.Match] per routing key, so that
// publishing again with a key already seen neither walks the trie nor
// allocates. It belongs to one Trie: a Trie never changes, so entries never
// go stale, and an exchange that rebuilds its Trie makes a new Cache with it.
//
// It holds at most a fixed number of keys and forgets them all when it is
// full, which costs one round of misses but needs no bookkeeping on hits.
// Cache is safe for concurrent use; hits take no lock.
type Cache[V comparable] struct {
	trie  *Trie[V]
	limit int
	m     sync.Map // string -> []V, never modified once stored

	mu sync.Mutex // serializes insertions so that the bound is exact
	n  int        // keys in m, under mu
}

// NewCache returns an empty cache of t's results holding at most limit keys.
// A limit of zero or less disables caching: every Get matches afresh.
func NewCache[V comparable](t *Trie[V], limit int) *Cache[V] {
	return &Cache[V]{trie: t, limit: limit}
}

// Get returns the distinct values whose patterns match key, in Match order.
// The slice may be shared with other callers and must not be modified.
func (c *Cache[V]) Get(key string) []V {
	if v, ok := c.m.Load(key); ok {
		return v.([]V)
	}
	vals := c.trie.Match(key, nil)
	if c.limit <= 0 {
		return vals
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m.Load(key); ok { // another goroutine got here first
		return v.([]V)
	}
	if c.n >= c.limit {
		c.m.Clear()
		c.n = 0
	}
	// Clone so that a key sliced from a larger buffer does not pin it.
	c.m.Store(strings.Clone(key), vals)
	c.n++
	return vals
}
