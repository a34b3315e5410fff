package match

import (
	"errors"
	"strings"
	"testing"
)

// conformance lists RabbitMQ topic-exchange outcomes; every case is checked
// against both MatchPattern and a one-binding Trie.
var conformance = []struct {
	pattern, key string
	want         bool
}{
	// The rules the project is specified by.
	{"#", "", true},
	{"*", "", false},
	{"a.#", "a", true},
	{"a.#.b", "a.b", true},
	{"#.a", "a", true},
	{"#", "a.b.c", true},
	{"a.*", "a.b", true},
	{"a.*", "a", false},
	{"a.*", "a.b.c", false},
	{"*.*", "a.b", true},
	{"a.*.#", "a.b", true},
	{"a.*.#", "a.b.c", true},
	{"a.*.#", "a", false},
	{"#.#", "", true},
	{"#.#", "a", true},
	{"#.#", "a.b.c", true},
	{"a.#.#.b", "a.b", true},
	{"a.#.#.b", "a.x.y.b", true},
	{"a.*.b", "a..b", true},

	// The empty pattern and empty words in keys.
	{"", "", true},
	{"", "a", false},
	{"", ".", false},
	{"#", ".", true},
	{"*", ".", false},
	{"*.*", ".", true},
	{"#.#", ".", true},
	{"a.*", "a.", true},
	{"a", "a.", false},
	{"*.a", ".a", true},
	{"#.b", "a..b", true},
	{"a.*.*", "a..", true},
	{"a.b", "a..b", false},

	// Literals: exact, byte-wise, case-sensitive.
	{"a", "a", true},
	{"a", "A", false},
	{"a", "a.a", false},
	{"a.b", "a.b", true},
	{"a.b", "a.b.c", false},
	{"a.b.c", "a.b", false},
	{"a.b", "a.b ", false},
	{"é.*", "é.x", true},
	{"stock.usd.nyse", "stock.usd.nyse", true},

	// '*' is exactly one word.
	{"*", "a", true},
	{"*", "a.b", false},
	{"*.a", "a", false},
	{"*.*.*", "a.b", false},
	{"*.orange.*", "quick.orange.rabbit", true},
	{"*.orange.*", "quick.orange.male.rabbit", false},
	{"*.*.rabbit", "lazy.pink.rabbit", true},

	// '#' is zero or more words, anywhere.
	{"a.#", "a.b.c.d", true},
	{"a.#", "b", false},
	{"a.#", "", false},
	{"#.a", "b.a", true},
	{"#.a", "a.b", false},
	{"#.a.#", "x.a.y", true},
	{"#.a.#", "a", true},
	{"#.a.#", "b", false},
	{"a.#.b", "a.x.y.b", true},
	{"a.#.b", "a.b.x", false},
	{"a.#.b", "a.b.b", true},
	{"a.b.#", "a.b", true},
	{"#.*", "", false},
	{"#.*", "a.b", true},
	{"*.#", "a", true},
	{"*.#", "", false},
	{"#.#.#.x", "x", true},
	{"#.a.#.a.#", "a.a", true},
	{"#.a.#.a.#", "a", false},
	{"#.a.#.a.#", "b.a.c.a.d", true},
	{"lazy.#", "lazy.orange.male.rabbit", true},
	{"#.*.#", "a", true},
	{"#.*.#", "", false},
}

func TestMatchPatternConformance(t *testing.T) {
	for _, c := range conformance {
		if got := MatchPattern(c.pattern, c.key); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", c.pattern, c.key, got, c.want)
		}
	}
}

func TestMatchPatternMalformedMatchesNothing(t *testing.T) {
	for _, p := range []string{"a..b", ".", "*x", "##"} {
		if MatchPattern(p, p) {
			t.Errorf("MatchPattern(%q, %q) = true for a malformed pattern", p, p)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	valid := []string{"", "a", "*", "#", "a.b", "#.#", "a.*.#", "*.*", "é.ü", "a-b_c:d", "#.a.#"}
	for _, p := range valid {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", p, err)
		}
	}
	invalid := []struct{ pattern, detail string }{
		{"a..b", "empty word at position 2"},
		{".a", "empty word at position 0"},
		{"a.", "empty word at position 2"},
		{".", "empty word at position 0"},
		{"a.b.", "empty word at position 4"},
		{"*x", `word "*x" at position 0 mixes`},
		{"x*", `word "x*" at position 0 mixes`},
		{"a.#b", `word "#b" at position 2 mixes`},
		{"##", `word "##" at position 0 mixes`},
		{"**", `word "**" at position 0 mixes`},
		{"#*", `word "#*" at position 0 mixes`},
		{"a.b*c.d", `word "b*c" at position 2 mixes`},
		{"a b", `word "a b" at position 0 holds ' ', a space`},
		{"x.a\tb", `word "a\tb" at position 2 holds '\t'`},
		{"a.\u00a0", `holds '\u00a0'`},
	}
	for _, c := range invalid {
		err := ValidatePattern(c.pattern)
		if !errors.Is(err, ErrBadPattern) {
			t.Errorf("ValidatePattern(%q) = %v, want an ErrBadPattern", c.pattern, err)
			continue
		}
		if !strings.Contains(err.Error(), c.detail) {
			t.Errorf("ValidatePattern(%q) = %q, want it to mention %q", c.pattern, err, c.detail)
		}
	}
	const want = `herald: malformed routing pattern "a..b": empty word at position 2`
	if err := ValidatePattern("a..b"); err == nil || err.Error() != want {
		t.Errorf("ValidatePattern(%q) = %v, want %s", "a..b", err, want)
	}
}
