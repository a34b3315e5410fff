package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldmq/herald"
)

func TestRecover(t *testing.T) {
	h := Recover()(func(context.Context, *herald.Delivery) error { panic("kaboom") })
	err := h(context.Background(), bare(1))
	var pe *herald.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "TestRecover") {
		t.Fatalf("Recover returned %v (%T), want a *herald.PanicError with the value and stack", err, err)
	}
	// Inside Retry, a panic is retried like an error.
	var calls int
	h = Retry(RetryPolicy{InitialWait: -1})(Recover()(func(context.Context, *herald.Delivery) error {
		if calls++; calls < 3 {
			panic("again")
		}
		return nil
	}))
	if err := h(context.Background(), bare(1)); err != nil || calls != 3 {
		t.Fatalf("Retry(Recover) returned %v after %d calls, want nil after 3", err, calls)
	}
}
