package heraldnats

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

func TestSubjectTemplate(t *testing.T) {
	for _, tc := range []struct {
		tmpl, key, want string
		bad             bool
	}{
		{tmpl: "orders", key: "x", want: "orders"},
		{tmpl: "{key}", key: "eu.created", want: "eu.created"},
		{tmpl: "orders.{key}", key: "eu", want: "orders.eu"},
		{tmpl: "a.{key}.b.{key}", key: "k", want: "a.k.b.k"},
		{tmpl: "", bad: true},
		{tmpl: "a..b", bad: true},
		{tmpl: ".a", bad: true},
		{tmpl: "a.", bad: true},
		{tmpl: "a.*", bad: true},
		{tmpl: "a.>", bad: true},
		{tmpl: "a b", bad: true},
		{tmpl: "a.{id}", bad: true},
		{tmpl: "a.{key", bad: true},
		{tmpl: "{key}.", bad: true},
	} {
		st, err := parseSubject(tc.tmpl)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, herald.ErrInvalid) {
				t.Errorf("parseSubject(%q): %v, want ErrInvalid", tc.tmpl, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSubject(%q): %v", tc.tmpl, err)
			continue
		}
		if got := st.expand(tc.key); got != tc.want {
			t.Errorf("%q with key %q: %q, want %q", tc.tmpl, tc.key, got, tc.want)
		}
	}
	for _, s := range []string{"a.*.c", "a.>", ">", "*"} {
		if err := checkSubject(s, true); err != nil {
			t.Errorf("filter %q: %v", s, err)
		}
	}
	if err := checkSubject("a.>.c", true); err == nil {
		t.Error("filter a.>.c accepted")
	}
}

// What encodeMsg writes, decodeMsg reads back: every field but TTL and
// Delay, the body as bytes.
func TestEncodeDecode(t *testing.T) {
	when := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	m := &herald.Message{
		ID: "id-1", Key: "k.1", Headers: herald.Headers{"a": "1", "content-type": "text/plain"},
		Body: []byte("hi"), Time: when, CorrelationID: "c", ReplyTo: "answers", Priority: 7,
	}
	out, err := encodeMsg(m, "s.x", herald.JSONCodec())
	if err != nil {
		t.Fatal(err)
	}
	got := decodeMsg(out.Subject, out.Header, out.Data, "fallback", time.Time{})
	if got.ID != m.ID || got.Key != m.Key || !got.Time.Equal(when) || got.CorrelationID != "c" ||
		got.ReplyTo != "answers" || got.Priority != 7 || string(got.Body.([]byte)) != "hi" ||
		len(got.Headers) != 2 || got.Headers["a"] != "1" || got.Headers["content-type"] != "text/plain" {
		t.Errorf("round trip: %+v", got)
	}

	// A private reply destination of the far broker is not restored.
	m = &herald.Message{Body: map[string]int{"x": 1}, ReplyTo: "_reply.12"}
	out, err = encodeMsg(m, "s.x", herald.JSONCodec())
	if err != nil {
		t.Fatal(err)
	}
	got = decodeMsg(out.Subject, out.Header, out.Data, "fallback", when)
	if got.ReplyTo != "" || got.ID != "fallback" || got.Key != "s.x" || !got.Time.Equal(when) {
		t.Errorf("decoded %+v", got)
	}
	if v, err := herald.BodyAs[map[string]int](got); err != nil || v["x"] != 1 {
		t.Errorf("body %v, %v", v, err)
	}
	if got.Headers[herald.HeaderContentType] != "application/json" {
		t.Errorf("headers %v", got.Headers)
	}

	// A body the codec refuses is an error, not a panic.
	if _, err := encodeMsg(&herald.Message{Body: math.Inf(1)}, "s", herald.JSONCodec()); err == nil {
		t.Error("+Inf encoded")
	}
	if out, _ := encodeMsg(&herald.Message{Body: json.RawMessage(`1`)}, "s", herald.JSONCodec()); out.Header.Get("content-type") != "application/json" {
		t.Errorf("raw JSON headers %v", out.Header)
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"a.{key}", "{key}", "a..b", "a.*", "", "{key}{key}", "a.{k"} {
		f.Add(s, "k")
	}
	f.Fuzz(func(t *testing.T, tmpl, key string) {
		st, err := parseSubject(tmpl)
		if err != nil {
			return
		}
		checkSubject(st.expand(key), false) // must not panic
	})
}
