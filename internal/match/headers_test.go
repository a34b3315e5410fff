package match

import "testing"

func TestMatchHeaders(t *testing.T) {
	h := func(kv ...string) map[string]string {
		m := make(map[string]string)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name          string
		binding, msg  map[string]string
		wantAll, want bool // want is the x-match=any outcome
	}{
		{"empty binding, empty message", h(), h(), true, false},
		{"nil binding, nil message", nil, nil, true, false},
		{"nil binding, some headers", nil, h("a", "1"), true, false},
		{"nil message", h("a", "1"), nil, false, false},
		{"exact", h("a", "1", "b", "2"), h("a", "1", "b", "2"), true, true},
		{"extra message headers", h("a", "1"), h("a", "1", "z", "9"), true, true},
		{"one missing", h("a", "1", "b", "2"), h("a", "1"), false, true},
		{"one differs", h("a", "1", "b", "2"), h("a", "1", "b", "3"), false, true},
		{"all differ", h("a", "1", "b", "2"), h("a", "2", "b", "1"), false, false},
		{"all missing", h("a", "1"), h("b", "1"), false, false},
		{"values case-sensitive", h("a", "x"), h("a", "X"), false, false},
		{"names case-sensitive", h("a", "x"), h("A", "x"), false, false},
		{"empty value must be present", h("a", ""), h(), false, false},
		{"empty value matches empty", h("a", ""), h("a", ""), true, true},
		{"x- entries skipped", h("x-match", "all", "a", "1"), h("a", "1"), true, true},
		{"only x- entries", h("x-match", "any", "x-foo", "1"), h("x-foo", "1"), true, false},
		{"x- in message only", h("a", "1"), h("a", "1", "x-trace", "t"), true, true},
	}
	for _, c := range cases {
		if got := MatchHeadersAll(c.binding, c.msg); got != c.wantAll {
			t.Errorf("%s: MatchHeadersAll(%v, %v) = %v, want %v", c.name, c.binding, c.msg, got, c.wantAll)
		}
		if got := MatchHeadersAny(c.binding, c.msg); got != c.want {
			t.Errorf("%s: MatchHeadersAny(%v, %v) = %v, want %v", c.name, c.binding, c.msg, got, c.want)
		}
	}
}
