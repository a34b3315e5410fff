package herald

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest name a queue, topic or exchange may have.
const MaxNameLen = 255

// validateName accepts names of 1 to MaxNameLen bytes made of ASCII
// letters, digits and . _ - : / — enough for "orders.created" or
// "billing/invoices" — and rejects everything else, wildcards included, so
// that a name can never be mistaken for a routing pattern.
func validateName(name string) error {
	if name == "" {
		return invalidf("empty name")
	}
	if strings.HasPrefix(name, replyPrefix) {
		return invalidf("name %q: names starting with %q are Request's reply destinations", name, replyPrefix)
	}
	if len(name) > MaxNameLen {
		return invalidf("name of %d bytes, longest is %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '/':
		default:
			r, _ := utf8.DecodeRuneInString(name[i:])
			what := fmt.Sprintf("%q", r)
			if r == utf8.RuneError {
				what = fmt.Sprintf("byte %#02x", c) // not UTF-8
			}
			return invalidf("name %q: %s at byte %d is not an ASCII letter, digit or . _ - : /", name, what, i)
		}
	}
	return nil
}
