package match

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// build returns a Trie of patterns, pattern i bound to vals[i], failing the
// test on a malformed pattern.
func build(t testing.TB, patterns []string, vals []int) *Trie[int] {
	t.Helper()
	b := NewBuilder[int]()
	for i, p := range patterns {
		if err := b.Add(p, vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build()
}

// reference returns the distinct values whose pattern MatchPattern accepts.
func reference(patterns []string, vals []int, key string) []int {
	var want []int
	for i, p := range patterns {
		if MatchPattern(p, key) && !slices.Contains(want, vals[i]) {
			want = append(want, vals[i])
		}
	}
	return want
}

// sameSet reports whether got holds exactly the values of want, once each.
func sameSet(got, want []int) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func TestTrieConformance(t *testing.T) {
	for _, c := range conformance {
		tr := build(t, []string{c.pattern}, []int{1})
		got := tr.Match(c.key, nil)
		if matched := len(got) == 1 && got[0] == 1; matched != c.want || len(got) > 1 {
			t.Errorf("Trie{%q}.Match(%q) = %v, want match %v", c.pattern, c.key, got, c.want)
		}
	}
}

// TestTrieAllConformancePatterns binds every conformance pattern at once, so
// that the patterns share trie nodes, and checks every key against them all.
func TestTrieAllConformancePatterns(t *testing.T) {
	var patterns []string
	var vals []int
	for i, c := range conformance {
		patterns = append(patterns, c.pattern)
		vals = append(vals, i)
	}
	tr := build(t, patterns, vals)
	for _, c := range conformance {
		got, want := tr.Match(c.key, nil), reference(patterns, vals, c.key)
		if !sameSet(got, want) {
			t.Errorf("Match(%q) = %v, want %v", c.key, got, want)
		}
	}
}

func TestBuilderRejectsMalformed(t *testing.T) {
	b := NewBuilder[int]()
	for _, p := range []string{"a..b", ".a", "a.", "*x", "a.#b", "##"} {
		if err := b.Add(p, 1); !errors.Is(err, ErrBadPattern) {
			t.Errorf("Add(%q) = %v, want ErrBadPattern", p, err)
		}
	}
	if got := b.Build().Match("a..b", nil); len(got) != 0 {
		t.Errorf("rejected patterns were bound: Match = %v", got)
	}
}

func TestTrieDeduplicates(t *testing.T) {
	b := NewBuilder[string]()
	for _, bd := range []struct{ p, v string }{
		{"a.b", "q1"}, {"a.*", "q1"}, {"#", "q1"}, {"a.#", "q1"}, {"#.#", "q1"},
		{"a.b", "q1"}, // the same binding twice
		{"a.b", "q2"}, {"*.b", "q2"},
		{"x.y", "q3"}, // does not match
	} {
		if err := b.Add(bd.p, bd.v); err != nil {
			t.Fatal(err)
		}
	}
	tr := b.Build()
	got := tr.Match("a.b", nil)
	slices.Sort(got)
	if !slices.Equal(got, []string{"q1", "q2"}) {
		t.Errorf("Match(a.b) = %v, want [q1 q2]", got)
	}
	// A second call must not be confused by the first one's bookkeeping.
	if got := tr.Match("a.b", nil); len(got) != 2 {
		t.Errorf("second Match(a.b) = %v, want 2 values", got)
	}
	// Values already in dst are kept and not de-duplicated against.
	got = tr.Match("a.b", []string{"q1"})
	slices.Sort(got)
	if !slices.Equal(got, []string{"q1", "q1", "q2"}) {
		t.Errorf("Match(a.b, [q1]) = %v, want [q1 q1 q2]", got)
	}
}

func TestTrieEmpty(t *testing.T) {
	var nilTrie *Trie[int]
	if got := nilTrie.Match("a", nil); got != nil {
		t.Errorf("nil Trie matched %v", got)
	}
	if got := NewBuilder[int]().Build().Match("", []int{7}); !slices.Equal(got, []int{7}) {
		t.Errorf("empty Trie changed dst to %v", got)
	}
	var zero Builder[int] // the zero Builder is usable
	if err := zero.Add("#", 1); err != nil {
		t.Fatal(err)
	}
	if got := zero.Build().Match("", nil); !slices.Equal(got, []int{1}) {
		t.Errorf("Match(\"\") = %v, want [1]", got)
	}
}

func TestBuildSnapshot(t *testing.T) {
	b := NewBuilder[int]()
	_ = b.Add("a", 1)
	first := b.Build()
	_ = b.Add("a", 2)
	if got := first.Match("a", nil); !slices.Equal(got, []int{1}) {
		t.Errorf("earlier Trie sees later binding: %v", got)
	}
	if got := b.Build().Match("a", nil); !sameSet(got, []int{1, 2}) {
		t.Errorf("later Trie = %v, want [1 2]", got)
	}
}

// randomWords joins n words drawn from alphabet.
func randomWords(r *rand.Rand, alphabet []string, maxWords int) string {
	ws := make([]string, r.IntN(maxWords+1))
	for i := range ws {
		ws[i] = alphabet[r.IntN(len(alphabet))]
	}
	return strings.Join(ws, ".")
}

func TestTrieMatchesReferenceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n := 1 + r.IntN(100)
		patterns, vals := make([]string, n), make([]int, n)
		for i := range patterns {
			patterns[i] = randomWords(r, []string{"a", "b", "*", "#"}, 6)
			vals[i] = r.IntN(n/2 + 1) // shared values exercise de-duplication
		}
		tr := build(t, patterns, vals)
		for range 50 {
			key := randomWords(r, []string{"a", "b", "c", ""}, 8)
			got, want := tr.Match(key, nil), reference(patterns, vals, key)
			if !sameSet(got, want) {
				t.Fatalf("round %d: Match(%q) = %v, want %v\npatterns %q\nvalues %v",
					round, key, got, want, patterns, vals)
			}
		}
	}
}

// TestTrieManyHashesLongKey would take exponential time without the walk's
// memoization of '#' expansions.
func TestTrieManyHashesLongKey(t *testing.T) {
	p := strings.Repeat("#.a.", 20) + "#.b"
	tr := build(t, []string{p, strings.Repeat("#.", 30) + "#"}, []int{1, 2})
	key := strings.Repeat("a.", 300) + "c"
	if got := tr.Match(key, nil); !slices.Equal(got, []int{2}) {
		t.Errorf("Match = %v, want [2]", got)
	}
	if MatchPattern(p, key) {
		t.Errorf("MatchPattern(%q, ...) = true", p)
	}
}

func TestTrieConcurrent(t *testing.T) {
	patterns := []string{"a.#", "*.b", "#", "a.b", "#.b.#"}
	vals := []int{1, 2, 3, 4, 5}
	tr := build(t, patterns, vals)
	keys := []string{"a.b", "b", "", "x.b.y", "a"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var dst []int
			for i := range 500 {
				key := keys[(g+i)%len(keys)]
				dst = tr.Match(key, dst[:0])
				if want := reference(patterns, vals, key); !sameSet(dst, want) {
					t.Errorf("Match(%q) = %v, want %v", key, dst, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTrieMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	tr := benchTrie(t)
	dst := make([]int, 0, 16)
	n := testing.AllocsPerRun(100, func() { dst = tr.Match(benchKey, dst[:0]) })
	if n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
	if len(dst) != 4 {
		t.Errorf("Match(%q) = %v, want 4 values", benchKey, dst)
	}
}

func FuzzTrieMatchesReference(f *testing.F) {
	seeds := [][4]string{
		{"#", "*", "", ""},
		{"a.#", "a.*.#", "#.a", "a"},
		{"a.#.b", "a.#.#.b", "#.#", "a.b"},
		{"a.*", "*.*", "*", "a.b.c"},
		{"a.*.b", "#.b", "a.b", "a..b"},
		{"*.*", "#", "*", "."},
		{"#.a.#.a.#", "#.*.#", "a.#", "b.a.c.a.d"},
		{"#.a.#.a.#.a.#.a.#.a.#.a", "#.#.#.#", "a.*.*.*", strings.Repeat("a.", 60) + "b"},
		{"a..b", "*x", "##", "a"},
		{".", "a.", ".a", "."},
		{"é.*", "ÿ.#", "#.é", "é.x"},
		{"lazy.#", "*.orange.*", "*.*.rabbit", "lazy.orange.rabbit"},
		{"#.*", "*.#", "#.*.#", ""},
		{"a.b.c.d.e.f.g", "#.g", "a.#.g", "a.b.c.d.e.f.g"},
		{"", "#", "*.#", "a."},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, p1, p2, p3, key string) {
		patterns := []string{p1, p2, p3}
		vals := []int{0, 1, 0} // p1 and p3 share a value
		b := NewBuilder[int]()
		var bound []string
		var boundVals []int
		for i, p := range patterns {
			err, verr := b.Add(p, vals[i]), ValidatePattern(p)
			if (err == nil) != (verr == nil) || (err != nil && !errors.Is(err, ErrBadPattern)) {
				t.Fatalf("Add(%q) = %v but ValidatePattern = %v", p, err, verr)
			}
			if err == nil {
				bound = append(bound, p)
				boundVals = append(boundVals, vals[i])
			}
		}
		got := b.Build().Match(key, nil)
		if want := reference(bound, boundVals, key); !sameSet(got, want) {
			t.Fatalf("Match(%q) = %v, want %v for patterns %q", key, got, want, bound)
		}
	})
}

const benchKey = "orders.eu.created"

// benchTrie binds 100 patterns, a third each literal, '*' and '#', of which
// four match benchKey.
func benchTrie(tb testing.TB) *Trie[int] {
	b := NewBuilder[int]()
	add := func(p string, v int) {
		if err := b.Add(p, v); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range 96 {
		switch i % 3 {
		case 0:
			add(fmt.Sprintf("svc%d.eu.created", i), i)
		case 1:
			add(fmt.Sprintf("svc%d.*.updated", i), i)
		case 2:
			add(fmt.Sprintf("svc%d.#", i), i)
		}
	}
	add("orders.eu.created", 96)
	add("orders.*.created", 97)
	add("#.created", 98)
	add("orders.#", 99)
	return b.Build()
}

func BenchmarkTrieMatch(b *testing.B) {
	tr := benchTrie(b)
	dst := make([]int, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = tr.Match(benchKey, dst[:0])
	}
	if len(dst) != 4 {
		b.Fatalf("matched %v, want 4 values", dst)
	}
}

func BenchmarkTrieMatchParallel(b *testing.B) {
	tr := benchTrie(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]int, 0, 16)
		for pb.Next() {
			dst = tr.Match(benchKey, dst[:0])
		}
	})
}

func BenchmarkMatchPatternReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchPattern("orders.#.created", benchKey)
	}
}

// TestTrieMatchOrder checks that values come in first-Add order, not in the
// order the walk meets them (literal, then '*', then '#').
func TestTrieMatchOrder(t *testing.T) {
	tr := build(t, []string{"x", "#", "a.b", "*.b", "a.#", "x.y"}, []int{5, 3, 1, 2, 4, 5})
	if got := tr.Match("a.b", nil); !slices.Equal(got, []int{3, 1, 2, 4}) {
		t.Errorf("Match(a.b) = %v, want [3 1 2 4]", got)
	}
	if got := tr.Match("x.y", []int{9}); !slices.Equal(got, []int{9, 5, 3}) {
		t.Errorf("Match(x.y, [9]) = %v, want [9 5 3]", got)
	}
}
