package match

import "strings"

// MatchHeadersAll reports whether msg carries every header of binding with
// the same value, as a headers exchange does under x-match=all. A binding
// with no headers therefore matches every message.
//
// As in RabbitMQ, binding entries whose name starts with "x-" (x-match
// itself, and any other broker argument) are not headers to match and are
// skipped, so callers may pass the binding arguments whole. Values compare
// exactly; there is no "present with any value" form.
func MatchHeadersAll(binding, msg map[string]string) bool {
	for k, v := range binding {
		if reserved(k) {
			continue
		}
		if mv, ok := msg[k]; !ok || mv != v {
			return false
		}
	}
	return true
}

// MatchHeadersAny reports whether msg carries at least one header of binding
// with the same value, as a headers exchange does under x-match=any. A
// binding with no headers therefore matches no message. "x-" entries are
// skipped as for [MatchHeadersAll].
func MatchHeadersAny(binding, msg map[string]string) bool {
	for k, v := range binding {
		if reserved(k) {
			continue
		}
		if mv, ok := msg[k]; ok && mv == v {
			return true
		}
	}
	return false
}

// reserved reports whether a binding argument is for the broker rather than
// a header to match (rabbit_exchange_type_headers drops these too).
func reserved(k string) bool { return strings.HasPrefix(k, "x-") }
