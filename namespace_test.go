package herald

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// A name with a non-ASCII character names it as a character, not as one
// of its bytes.
func TestNameErrorPrintsTheRune(t *testing.T) {
	b := newTestBroker(t)
	_, err := b.Queue("caf\u00e9")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `'é' at byte 3`) {
		t.Errorf("Queue(\"café\") = %v, want ErrInvalid naming 'é' at byte 3", err)
	}
}

func TestQueueNameValidation(t *testing.T) {
	b := newTestBroker(t)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"a", true},
		{"Z9", true},
		{"orders.created", true},
		{"billing/invoices", true},
		{"a_b-c:d/e.f", true},
		{"...", true},
		{strings.Repeat("n", MaxNameLen), true},

		{"", false},
		{strings.Repeat("n", MaxNameLen+1), false},
		{"has space", false},
		{" lead", false},
		{"tab\there", false},
		{"new\nline", false},
		{"nul\x00", false},
		{"orders.*", false},
		{"orders.#", false},
		{"a>b", false},
		{">", false},
		{"naïve", false},
		{"日本", false},
		{"a,b", false},
		{"a+b", false},
		{"a\\b", false},
	} {
		q, err := b.Queue(tc.name)
		switch {
		case tc.valid && err != nil:
			t.Errorf("Queue(%q) = %v, want it accepted", tc.name, err)
		case tc.valid && q.Name() != tc.name:
			t.Errorf("Queue(%q).Name() = %q", tc.name, q.Name())
		case !tc.valid && !errors.Is(err, ErrInvalid):
			t.Errorf("Queue(%q) = %v, %v; want ErrInvalid", tc.name, q, err)
		case !tc.valid && q != nil:
			t.Errorf("Queue(%q) failed but returned a queue", tc.name)
		}
	}
}

func TestNamesAndLookup(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	tp, _ := b.Topic("t", WithCapacity(8))
	x, _ := b.Exchange("x", FanoutExchange)
	if got := b.Names(); !slices.Equal(got, []string{"q", "t", "x"}) {
		t.Fatalf("Names = %v", got)
	}
	if got, err := b.LookupQueue("q"); got != q || err != nil {
		t.Fatalf("LookupQueue = %v, %v", got, err)
	}
	if got, err := b.LookupTopic("t"); got != tp || err != nil {
		t.Fatalf("LookupTopic = %v, %v", got, err)
	}
	if got, err := b.LookupExchange("x"); got != x || err != nil {
		t.Fatalf("LookupExchange = %v, %v", got, err)
	}
	if _, err := b.LookupQueue("t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupQueue of a topic = %v, want ErrNotFound", err)
	}
	if _, err := b.LookupExchange("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupExchange of nothing = %v, want ErrNotFound", err)
	}
}
