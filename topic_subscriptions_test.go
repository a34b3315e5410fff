package herald

import (
	"context"
	"fmt"
	"testing"
)

func TestTopicSubscriptionStats(t *testing.T) {
	b := newTestBroker(t)
	tp, _ := b.Topic("t")
	early, _ := tp.Subscribe()
	tp.Publish(context.Background(), NewMessage(1))
	late, _ := tp.Subscribe()
	member, _ := tp.Subscribe(WithGroup("g"))
	tp.Subscribe(WithGroup("g")) // a second member: the group is listed once
	for i := range 2 {
		tp.Publish(context.Background(), NewMessage(i))
	}
	settleOrFail(t, recvOrFail(t, member).Ack)
	settleOrFail(t, recvOrFail(t, early).Ack)

	var got []string
	for group, s := range tp.SubscriptionStats() {
		got = append(got, fmt.Sprintf("%q lag %d acked %d", group, s.Lag, s.Acked))
	}
	want := []string{`"" lag 2 acked 1`, `"" lag 2 acked 0`, `"g" lag 1 acked 1`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	late.Close()
	n := 0
	for range tp.SubscriptionStats() {
		n++
		break
	}
	if n != 1 {
		t.Error("the loop did not stop at break")
	}
}
