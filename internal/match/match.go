// Package match implements the routing-key and header matching of AMQP 0-9-1
// exchanges, with RabbitMQ's semantics.
//
// A topic routing key is a list of words separated by '.'. The empty key ""
// is zero words, and every '.' separates two words, so "a." is the two words
// "a" and "", and "." is two empty words: this is how RabbitMQ splits keys
// (rabbit_db_topic_exchange:split_topic_key_binary returns [] for <<>>, and
// binary:split on "." otherwise). Words compare byte-wise, case-sensitively.
//
// A binding pattern has the same shape, where the word "*" matches exactly
// one word and "#" matches zero or more words. Hence "#" matches every key,
// "" included, while "*" never matches "", and the empty pattern "" matches
// only the empty key. Unlike RabbitMQ, which accepts any binding key, herald
// rejects patterns it could only have been given by mistake: empty words,
// words that mix a wildcard with other characters, and words that hold a
// space or a control character (see [ValidatePattern]).
//
// [MatchPattern] is the obviously-correct reference; [Trie] is what an
// exchange routes with, and [Cache] memoizes its answers per key.
package match

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadPattern is wrapped by every error [ValidatePattern] returns, so
// callers can tell a bad binding key from other failures with errors.Is.
var ErrBadPattern = errors.New("herald: malformed routing pattern")

// ValidatePattern reports why p cannot be a topic binding pattern, or nil if
// it can. The error wraps [ErrBadPattern] and names the offending word by its
// byte offset in p, so a user can find it in a long key.
func ValidatePattern(p string) error {
	if p == "" {
		return nil // RabbitMQ accepts it; it matches only the empty key.
	}
	for start := 0; ; {
		w, next := word(p, start)
		switch {
		case w == "":
			return fmt.Errorf("%w %q: empty word at position %d", ErrBadPattern, p, start)
		case len(w) > 1 && strings.ContainsAny(w, "*#"):
			return fmt.Errorf("%w %q: word %q at position %d mixes a wildcard with other characters",
				ErrBadPattern, p, w, start)
		}
		if i := strings.IndexFunc(w, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
			r, _ := utf8.DecodeRuneInString(w[i:])
			return fmt.Errorf("%w %q: word %q at position %d holds %q, a space or control character",
				ErrBadPattern, p, w, start, r)
		}
		if next > len(p) {
			return nil
		}
		start = next
	}
}

// word returns the word of s that starts at byte offset off, and the offset
// of the word after it, which is len(s)+1 when this is the last word. Both
// the reference and the trie walk keys this way so that they agree on empty
// words by construction.
func word(s string, off int) (w string, next int) {
	w = s[off:]
	if i := strings.IndexByte(w, '.'); i >= 0 {
		return w[:i], off + i + 1
	}
	return w, len(s) + 1
}

// split returns the words of s, where "" is zero words.
func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// MatchPattern reports whether the topic pattern matches key. A malformed
// pattern matches nothing, as it could never have been bound.
//
// It is the reference the [Trie] is tested against: it splits both strings
// and fills a dynamic-programming table, which is slow and allocates but is
// plainly the definition, and stays polynomial however many '#' there are.
func MatchPattern(pattern, key string) bool {
	if ValidatePattern(pattern) != nil {
		return false
	}
	p, k := split(pattern), split(key)
	// ok[i][j] reports whether p[i:] matches k[j:].
	ok := make([][]bool, len(p)+1)
	for i := range ok {
		ok[i] = make([]bool, len(k)+1)
	}
	ok[len(p)][len(k)] = true // nothing left of either
	for i := len(p) - 1; i >= 0; i-- {
		for j := len(k); j >= 0; j-- {
			more := j < len(k)
			switch p[i] {
			case "#": // swallow nothing, or one more word and stay on '#'
				ok[i][j] = ok[i+1][j] || (more && ok[i][j+1])
			case "*":
				ok[i][j] = more && ok[i+1][j+1]
			default:
				ok[i][j] = more && p[i] == k[j] && ok[i+1][j+1]
			}
		}
	}
	return ok[0][0]
}
