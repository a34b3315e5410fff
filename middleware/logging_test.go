package middleware

import (
	"bytes"
	"context"
	"errors"
	"github.com/heraldmq/herald/internal/testlog"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

func TestLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		b := newBroker(t)
		q := declareQueue(t, b, "q", herald.WithBackoff(0, 0))
		startConsumer(t, q, func(_ context.Context, d *herald.Delivery) error {
			time.Sleep(250 * time.Millisecond) // work, in fake time
			if d.ID == "m2" && d.Attempt == 1 {
				return errors.New("boom")
			}
			return nil
		}, herald.WithMiddleware(Logging(testlog.New(&buf, slog.LevelDebug))))
		publish(t, q, &herald.Message{ID: "m1", Body: 1})
		publish(t, q, &herald.Message{ID: "m2", Body: 2})
		heraldtest.Settle(t, b)
		const want = `level=DEBUG msg="delivery handled" source=q id=m1 attempt=1 duration=250ms
level=WARN msg="delivery failed" source=q id=m2 attempt=1 duration=250ms error=boom
level=DEBUG msg="delivery handled" source=q id=m2 attempt=2 duration=250ms
`
		if got := buf.String(); got != want {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
	})
}

// Below the logger's level nothing is logged; a delivery with no message
// is logged with empty fields rather than a panic.
func TestLoggingLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		l := testlog.New(&buf, slog.LevelWarn)
		ok := Logging(l)(func(context.Context, *herald.Delivery) error { return nil })
		fail := Logging(l)(func(context.Context, *herald.Delivery) error { return herald.Permanent(errors.New("bad")) })
		var noDelivery *herald.Delivery
		ok(context.Background(), bare(1))
		fail(context.Background(), noDelivery)
		const want = `level=WARN msg="delivery failed" source="" id="" attempt=0 duration=0s error="permanent: bad"` + "\n"
		if got := buf.String(); got != want {
			t.Fatalf("log at Warn:\n%q\nwant\n%q", got, want)
		}
	})
}

// Logging(nil) logs through slog.Default() as it is when the middleware
// wraps a handler.
func TestLoggingNilIsDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(testlog.New(&buf, slog.LevelWarn))
	defer slog.SetDefault(old)
	h := Logging(nil)(func(context.Context, *herald.Delivery) error { return errors.New("boom") })
	h(context.Background(), &herald.Delivery{Message: &herald.Message{ID: "m1"}, Attempt: 2})
	if got, want := buf.String(), `msg="delivery failed" source="" id=m1 attempt=2`; !strings.Contains(got, want) {
		t.Fatalf("default log %q, want it to contain %q", got, want)
	}
}

func TestRecoverInsideLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		b := newBroker(t, herald.WithMiddleware(Logging(testlog.New(&buf, slog.LevelDebug)), Recover()))
		q := declareQueue(t, b, "q", herald.WithBackoff(0, 0))
		startConsumer(t, q, func(_ context.Context, d *herald.Delivery) error {
			if d.Attempt == 1 {
				panic("kaboom")
			}
			return nil
		})
		publish(t, q, &herald.Message{ID: "m1", Body: 1})
		heraldtest.Settle(t, b)
		const want = `level=WARN msg="delivery failed" source=q id=m1 attempt=1 duration=0s error="herald: handler panicked: kaboom"
level=DEBUG msg="delivery handled" source=q id=m1 attempt=2 duration=0s
`
		if got := buf.String(); got != want {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
		wantStats(t, q, herald.QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1, Consumers: 1})
	})
}
