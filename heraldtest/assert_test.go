package heraldtest_test

import (
	"context"
	"testing"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

type order struct {
	ID    int
	Total float64
}

// recorded returns a recorder that has recorded msgs, through a handler.
func recorded(msgs ...*herald.Message) *heraldtest.Recorder {
	rec := heraldtest.NewRecorder("orders handler")
	h := rec.Handler(func(context.Context, *herald.Delivery) error { return nil })
	for _, m := range msgs {
		h(context.Background(), &herald.Delivery{Message: m, Attempt: 1})
	}
	return rec
}

func TestAssertPasses(t *testing.T) {
	rec := recorded(
		&herald.Message{Key: "order.placed", Body: order{1, 9.5}},
		&herald.Message{Key: "order.placed", Body: order{2, 19}},
		&herald.Message{Key: "order.cancelled", Body: order{1, 9.5}},
	)
	f := runFake(t, func(ft testing.TB) {
		for _, ok := range []bool{
			heraldtest.AssertBodies(ft, rec, order{1, 9.5}, order{2, 19}, order{1, 9.5}),
			heraldtest.AssertKeys(ft, rec, "order.placed", "order.placed", "order.cancelled"),
			heraldtest.AssertBodiesUnordered(ft, rec, order{1, 9.5}, order{1, 9.5}, order{2, 19}),
			heraldtest.AssertKeysUnordered(ft, rec, "order.cancelled", "order.placed", "order.placed"),
		} {
			if !ok {
				t.Error("an assertion returned false")
			}
		}
	})
	if f.Failed() {
		t.Error(f.output())
	}
	empty := heraldtest.NewRecorder("nothing")
	if f := runFake(t, func(ft testing.TB) { heraldtest.AssertBodies(ft, empty) }); f.Failed() {
		t.Error(f.output())
	}
}

func TestAssertDiffs(t *testing.T) {
	rec := recorded(
		&herald.Message{Key: "order.placed", Body: order{1, 9.5}},
		&herald.Message{Key: "order.placed", Body: order{3, 7}},
		&herald.Message{Key: "1", Body: nil},
	)
	for _, tc := range []struct {
		name   string
		assert func(t testing.TB) bool
		want   string
	}{
		{"bodies", func(t testing.TB) bool {
			return heraldtest.AssertBodies(t, rec, order{1, 9.5}, order{2, 19})
		}, `heraldtest: bodies recorded from orders handler differ (got 3, want 2):
	   #  got                                     want
	   0  heraldtest_test.order{ID:1, Total:9.5}  heraldtest_test.order{ID:1, Total:9.5}
	!  1  heraldtest_test.order{ID:3, Total:7}    heraldtest_test.order{ID:2, Total:19}
	!  2  nil                                     (none)`},
		{"keys", func(t testing.TB) bool {
			return heraldtest.AssertKeys(t, rec, "order.placed", "order.placed", "1", "order.shipped")
		}, `heraldtest: keys recorded from orders handler differ (got 3, want 4):
	   #  got             want
	   0  "order.placed"  "order.placed"
	   1  "order.placed"  "order.placed"
	   2  "1"             "1"
	!  3  (none)          "order.shipped"`},
		{"bodies unordered", func(t testing.TB) bool {
			return heraldtest.AssertBodiesUnordered(t, rec, nil, order{2, 19}, order{1, 9.5}, 1)
		}, `heraldtest: bodies recorded from orders handler differ, in any order (got 3, want 4):
	wanted, not recorded:
		heraldtest_test.order{ID:2, Total:19}
		1
	recorded, not wanted:
		heraldtest_test.order{ID:3, Total:7}`},
		{"keys unordered", func(t testing.TB) bool {
			return heraldtest.AssertKeysUnordered(t, rec, "1", "order.placed")
		}, `heraldtest: keys recorded from orders handler differ, in any order (got 3, want 2):
	recorded, not wanted:
		"order.placed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ok bool
			f := runFake(t, func(ft testing.TB) { ok = tc.assert(ft) })
			if ok {
				t.Error("returned true")
			}
			if got := f.output(); got != tc.want {
				t.Errorf("reported:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
