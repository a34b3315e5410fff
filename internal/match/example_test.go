package match_test

import (
	"fmt"
	"slices"

	"github.com/heraldmq/herald/internal/match"
)

func ExampleTrie() {
	b := match.NewBuilder[string]()
	_ = b.Add("*.orange.*", "q1")
	_ = b.Add("*.*.rabbit", "q2")
	_ = b.Add("lazy.#", "q2")
	t := b.Build()

	for _, key := range []string{"quick.orange.rabbit", "lazy.pink.rabbit", "quick.brown.fox", "lazy"} {
		got := t.Match(key, nil)
		slices.Sort(got)
		fmt.Println(key, got)
	}
	// Output:
	// quick.orange.rabbit [q1 q2]
	// lazy.pink.rabbit [q2]
	// quick.brown.fox []
	// lazy [q2]
}

func ExampleMatchPattern() {
	fmt.Println(match.MatchPattern("#", ""))
	fmt.Println(match.MatchPattern("*", ""))
	fmt.Println(match.MatchPattern("a.#.b", "a.b"))
	fmt.Println(match.MatchPattern("a.*.b", "a..b"))
	// Output:
	// true
	// false
	// true
	// true
}

func ExampleValidatePattern() {
	fmt.Println(match.ValidatePattern("a.*.#"))
	fmt.Println(match.ValidatePattern("a..b"))
	fmt.Println(match.ValidatePattern("a.#b"))
	// Output:
	// <nil>
	// herald: malformed routing pattern "a..b": empty word at position 2
	// herald: malformed routing pattern "a.#b": word "#b" at position 2 mixes a wildcard with other characters
}

func ExampleMatchHeadersAll() {
	binding := map[string]string{"x-match": "all", "format": "pdf", "type": "report"}
	fmt.Println(match.MatchHeadersAll(binding, map[string]string{"format": "pdf", "type": "report", "lang": "en"}))
	fmt.Println(match.MatchHeadersAll(binding, map[string]string{"format": "pdf"}))
	fmt.Println(match.MatchHeadersAny(binding, map[string]string{"format": "pdf"}))
	// Output:
	// true
	// false
	// true
}
