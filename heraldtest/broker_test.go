package heraldtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

func TestNewBrokerClosesAtCleanup(t *testing.T) {
	var b *herald.Broker
	f := runFake(t, func(ft testing.TB) {
		b = heraldtest.NewBroker(ft)
		must[*herald.Queue](t)(b.Queue("q"))
	})
	if f.Failed() {
		t.Fatal(f.output())
	}
	if err := b.Publish(context.Background(), "q", herald.NewMessage(1)); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("after cleanup, Publish = %v, want ErrClosed", err)
	}
}

// leakHandler runs, with a fakeT, a test whose handler ignores its
// context, so that Close cannot stop it, and returns what was reported.
// In a bubble, the leak check's wait takes no real time.
func leakHandler(t *testing.T, opts ...heraldtest.Option) string {
	var out string
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := runFake(t, func(ft testing.TB) {
			b := heraldtest.NewBroker(ft, opts...)
			q := must[*herald.Queue](t)(b.Queue("q"))
			started := make(chan struct{})
			go q.Consume(context.Background(), func(context.Context, *herald.Delivery) error {
				close(started)
				<-release
				return nil
			})
			mustOK(t, q.Publish(context.Background(), herald.NewMessage(1)))
			<-started
		})
		close(release)
		out = f.output()
	})
	return out
}

func TestNewBrokerFindsLeakedGoroutines(t *testing.T) {
	if got := leakHandler(t); !strings.Contains(got, "goroutine(s) of herald still running") {
		t.Errorf("leaked handler not reported; reported:\n%s", got)
	}
}

func TestNoLeakCheck(t *testing.T) {
	if got := leakHandler(t, heraldtest.NoLeakCheck()); got != "" {
		t.Errorf("NoLeakCheck still checked:\n%s", got)
	}
}

func TestFailOnUnsettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := runFake(t, func(ft testing.TB) {
			b := heraldtest.NewBroker(ft, heraldtest.FailOnUnsettled())
			must[*herald.Topic](t)(b.Topic("events"))
			heraldtest.Tap(ft, b, "events")
			must[*herald.Queue](t)(b.Queue("orders.dead"))
			mustOK(t, b.Publish(context.Background(), "orders.dead", herald.NewMessage("nobody reads me")))
			mustOK(t, b.Publish(context.Background(), "events", herald.NewMessage(1)))
		})
		got := f.output()
		for _, want := range []string{
			"heraldtest: messages left unsettled at the end of the test (context deadline exceeded); something still holds a message",
			`taps:` + "\n\t" + `topic "events": 1 recorded; tap subscription: 0 unread, 0 unacked`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("reported:\n%s\nwant it to contain:\n%s", got, want)
			}
		}
		if d := time.Since(start); d != heraldtest.DefaultSettleTimeout {
			t.Errorf("the check waited %v, want the default settle timeout", d)
		}
	})
}

func TestFailOnUnsettledPassesWhenIdleOrClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(b *herald.Broker)
	}{
		{"idle", func(*herald.Broker) {}},
		{"closed by the test", func(b *herald.Broker) {
			must[*herald.Queue](t)(b.Queue("left"))
			mustOK(t, b.Publish(context.Background(), "left", herald.NewMessage(1)))
			b.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := runFake(t, func(ft testing.TB) {
				b := heraldtest.NewBroker(ft, heraldtest.FailOnUnsettled())
				tc.end(b)
			})
			if f.Failed() {
				t.Error(f.output())
			}
		})
	}
}

// A test that has failed already is not told about unsettled messages
// too: they are expected then.
func TestFailOnUnsettledQuietAfterFailure(t *testing.T) {
	f := runFake(t, func(ft testing.TB) {
		b := heraldtest.NewBroker(ft, heraldtest.FailOnUnsettled())
		must[*herald.Queue](t)(b.Queue("left"))
		mustOK(t, b.Publish(context.Background(), "left", herald.NewMessage(1)))
		ft.Fatalf("the test's own failure")
	})
	if got := f.output(); got != "the test's own failure" {
		t.Errorf("reported:\n%s", got)
	}
}

func TestSettleReportsWhatHoldsTheBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := runFake(t, func(ft testing.TB) {
			b := heraldtest.NewBroker(ft, heraldtest.WithSettleTimeout(time.Minute))
			x := must[*herald.Exchange](t)(b.Exchange("events", herald.TopicExchange))
			must[*herald.Queue](t)(b.Queue("audit"))
			mustOK(t, x.Bind("audit", "#"))
			heraldtest.Tap(ft, b, "events")
			mustOK(t, x.Publish(context.Background(), &herald.Message{Key: "a"}))
			heraldtest.Settle(ft, b)
			t.Error("Settle returned")
		})
		got := f.output()
		want := "heraldtest.Settle: the broker did not go idle within 1m0s; something still holds a message: a queue, a dead-letter queue or a subscription group that nothing consumes, a plain subscription that nobody reads, a handler that does not return, or a retry waiting out its back-off\n" +
			"taps:\n" +
			"\ttopic exchange \"events\": 1 recorded; tap queue \"heraldtest.tap."
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `": 0 ready, 0 unacked`) {
			t.Errorf("reported:\n%s\nwant:\n%s...", got, want)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Settle waited %v, want the settle timeout, 1m", d)
		}
	})
}

func TestSettleOnClosedBroker(t *testing.T) {
	f := runFake(t, func(ft testing.TB) {
		b := herald.New()
		b.Close()
		heraldtest.Settle(ft, b)
	})
	if got, want := f.output(), "heraldtest.Settle: herald: broker closed"; got != want {
		t.Errorf("reported %q, want %q", got, want)
	}
}

func TestNewBrokerBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  heraldtest.Option
		want string
	}{
		{"nil", nil, "heraldtest.NewBroker: nil option"},
		{"settle timeout", heraldtest.WithSettleTimeout(0), "heraldtest.NewBroker: settle timeout 0s, want a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := runFake(t, func(ft testing.TB) { heraldtest.NewBroker(ft, tc.opt) })
			if got := f.output(); got != tc.want {
				t.Errorf("reported %q, want %q", got, tc.want)
			}
		})
	}
}
