package match

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A Trie changed one binding at a time matches as one built from the
// bindings left: random adds and removes, checked after each against the
// reference, values in the order they were first bound.
func TestTrieAddRemoveMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		tr := NewTrie[int]()
		var patterns []string
		var vals []int
		since := map[int]int{} // per value bound: the step from which it has been
		for step := range 200 {
			if len(patterns) > 0 && r.IntN(3) == 0 {
				i := r.IntN(len(patterns))
				if !tr.Remove(patterns[i], vals[i]) {
					t.Fatalf("round %d step %d: Remove(%q, %d) of a bound pattern = false", round, step, patterns[i], vals[i])
				}
				v := vals[i]
				patterns = slices.Delete(patterns, i, i+1)
				vals = slices.Delete(vals, i, i+1)
				if !slices.Contains(vals, v) {
					delete(since, v)
				}
			} else {
				p, v := randomWords(r, []string{"a", "b", "*", "#"}, 5), r.IntN(20)
				if err := tr.Add(p, v); err != nil {
					t.Fatal(err)
				}
				if !bound(patterns, vals, p, v) {
					patterns, vals = append(patterns, p), append(vals, v)
				}
				if _, ok := since[v]; !ok {
					since[v] = step
				}
			}
			for range 5 {
				key := randomWords(r, []string{"a", "b", "c", ""}, 6)
				got, want := tr.Match(key, nil), orderedReference(patterns, vals, since, key)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d step %d: Match(%q) = %v, want %v\npatterns %q\nvalues %v",
						round, step, key, got, want, patterns, vals)
				}
			}
		}
	}
}

func bound(patterns []string, vals []int, p string, v int) bool {
	for i := range patterns {
		if patterns[i] == p && vals[i] == v {
			return true
		}
	}
	return false
}

// orderedReference is reference in the order the values were bound from:
// since, which a value bound again after all its patterns were removed
// restarts.
func orderedReference(patterns []string, vals []int, since map[int]int, key string) []int {
	var want []int
	for i, p := range patterns {
		if MatchPattern(p, key) && !slices.Contains(want, vals[i]) {
			want = append(want, vals[i])
		}
	}
	slices.SortFunc(want, func(a, b int) int { return since[a] - since[b] })
	return want
}

func TestTrieRemove(t *testing.T) {
	tr := NewTrie[string]()
	for _, b := range []struct{ p, v string }{{"a.#", "q1"}, {"a.b", "q2"}, {"#", "q3"}} {
		tr.Add(b.p, b.v)
	}
	if tr.Remove("a.*", "q1") || tr.Remove("a.#", "q2") {
		t.Fatal("Remove of a pattern not bound to that value reported true")
	}
	if !tr.Remove("a.#", "q1") || tr.Remove("a.#", "q1") {
		t.Fatal("Remove of a bound pattern: want true once, then false")
	}
	if got := tr.Match("a.b", nil); !slices.Equal(got, []string{"q2", "q3"}) {
		t.Fatalf("after Remove, Match = %v, want [q2 q3]", got)
	}
	// Bound again, q1 comes after the values bound before.
	tr.Add("a.b", "q1")
	if got := tr.Match("a.b", nil); !slices.Equal(got, []string{"q2", "q3", "q1"}) {
		t.Fatalf("after re-Add, Match = %v, want [q2 q3 q1]", got)
	}
	for _, b := range []struct{ p, v string }{{"a.b", "q2"}, {"#", "q3"}, {"a.b", "q1"}} {
		tr.Remove(b.p, b.v)
	}
	if got := tr.Match("a.b", nil); len(got) != 0 || !tr.root.empty() {
		t.Fatalf("with nothing bound, Match = %v and the root holds %+v", got, tr.root)
	}
}

// Binding many patterns costs each about the same, however many there are.
func BenchmarkTrieAdd(b *testing.B) {
	words := benchNames(10_000)
	tr := NewTrie[int]()
	b.ResetTimer()
	for i := range b.N {
		tr.Add("orders."+words[i%len(words)]+".#", i)
	}
}

func benchNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
	}
	return s
}

// Matches run while patterns are added and removed (run with -race).
func TestTrieChangeWhileMatching(t *testing.T) {
	tr := NewTrie[int]()
	tr.Add("a.#", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			tr.Add("a.*", i%7+1)
			tr.Remove("a.*", (i+3)%7+1)
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		if got := tr.Match("a.b", nil); len(got) == 0 || got[0] != 0 {
			t.Fatalf("Match(a.b) = %v, want 0 first", got)
		}
	}
}
