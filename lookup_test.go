package herald

import (
	"errors"
	"slices"
	"testing"
)

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
