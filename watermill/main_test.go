package heraldwm_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: every
// subscriber, publisher and broker the tests create is closed by then.
//
// The universal suite's own multiplier (which merges several subscribers
// into one channel) is ignored: its forwarding goroutines block on sending
// to the merged channel once a test stops reading it, whatever the Pub/Sub.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/ThreeDotsLabs/watermill/internal/subscriber.(*multiplier).Subscribe.func2"),
		goleak.IgnoreAnyFunction("github.com/ThreeDotsLabs/watermill/internal/subscriber.(*multiplier).Subscribe.func3"),
	)
}
