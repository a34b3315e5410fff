package heraldtest

import (
	"testing"
	"testing/synctest"
)

func TestInBubble(t *testing.T) {
	if inBubble() {
		t.Error("inBubble() = true outside a synctest bubble")
	}
	var c config
	if d := c.settleWait(); d != DefaultSettleTimeout {
		t.Errorf("default settle wait outside a bubble = %v, want %v", d, DefaultSettleTimeout)
	}
	synctest.Test(t, func(t *testing.T) {
		if !inBubble() {
			t.Error("inBubble() = false inside a synctest bubble")
		}
		if d := c.settleWait(); d != DefaultBubbleSettleTimeout {
			t.Errorf("default settle wait in a bubble = %v, want %v", d, DefaultBubbleSettleTimeout)
		}
	})
}
