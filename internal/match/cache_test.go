package match

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	tr := build(t, []string{"a.#", "*.b", "c"}, []int{1, 2, 3})
	c := NewCache(tr, 2)
	for range 3 { // misses, then hits, then hits after a clear
		for _, k := range []string{"a.b", "c", "x"} {
			got, want := c.Get(k), tr.Match(k, nil)
			if !slices.Equal(got, want) {
				t.Errorf("Get(%q) = %v, want %v", k, got, want)
			}
		}
	}
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	if n > 2 {
		t.Errorf("cache holds %d keys, limit 2", n)
	}
	stored := 0
	c.m.Range(func(any, any) bool { stored++; return true })
	if stored != n {
		t.Errorf("cache map holds %d keys, counter says %d", stored, n)
	}
}

func TestCacheDisabled(t *testing.T) {
	tr := build(t, []string{"#"}, []int{1})
	c := NewCache(tr, 0)
	if got := c.Get("a"); !slices.Equal(got, []int{1}) {
		t.Errorf("Get = %v, want [1]", got)
	}
	c.m.Range(func(k, _ any) bool { t.Errorf("disabled cache stored %q", k); return true })
}

func TestCacheConcurrent(t *testing.T) {
	tr := build(t, []string{"k.#", "*.1", "#.2"}, []int{1, 2, 3})
	c := NewCache(tr, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				key := fmt.Sprintf("k.%d", (g+i)%20)
				if got, want := c.Get(key), tr.Match(key, nil); !sameSet(got, want) {
					t.Errorf("Get(%q) = %v, want %v", key, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCacheHitAllocs(t *testing.T) {
	c := NewCache(benchTrie(t), 16)
	c.Get(benchKey)
	if n := testing.AllocsPerRun(100, func() { c.Get(benchKey) }); n != 0 {
		t.Errorf("Get of a cached key allocates %v times, want 0", n)
	}
}

func BenchmarkCacheGet(b *testing.B) {
	c := NewCache(benchTrie(b), 1024)
	c.Get(benchKey)
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Get(benchKey)) != 4 {
			b.Fatal("wrong result")
		}
	}
}

func BenchmarkCacheGetParallel(b *testing.B) {
	c := NewCache(benchTrie(b), 1024)
	c.Get(benchKey)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get(benchKey)
		}
	})
}
