package herald

import (
	"context"
	"testing"
	"time"
	"unsafe"
)

// Receive allocates one Delivery per message, and nothing else: keep it in
// the 128-byte size class.
func TestReceiveAllocatesOneSmallDelivery(t *testing.T) {
	if size := unsafe.Sizeof(Delivery{}); size > 128 {
		t.Errorf("a Delivery takes %d bytes, want at most 128", size)
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	m := &Message{ID: "x", Time: time.Unix(1, 0), Body: benchBody}
	n := testing.AllocsPerRun(200, func() {
		if err := q.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
	})
	if n != 1 {
		t.Errorf("%.2f allocations per Receive, want 1 (the Delivery)", n)
	}
}
