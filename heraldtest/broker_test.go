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
		// "events" is read to the end by the tap, its only subscription, so
		// it holds nothing.
		want := "heraldtest: messages left unsettled at the end of the test (context deadline exceeded); what holds it up:\n" +
			"\tqueue \"orders.dead\": 1 ready, 0 unacked, 0 delayed, 0 scheduled; no consumer\n" +
			"taps:\n" +
			"\ttopic \"events\": 1 recorded; tap subscription: 0 unread, 0 unacked"
		if got := f.output(); got != want {
			t.Errorf("reported:\n%s\nwant:\n%s", got, want)
		}
		// The fake test's cleanup (the leak check) may add a moment after.
		if d := time.Since(start); d < heraldtest.DefaultBubbleSettleTimeout || d > heraldtest.DefaultBubbleSettleTimeout+time.Second {
			t.Errorf("the check waited %v, want the default settle timeout in a bubble", d)
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
		// The tap's own queue, "heraldtest.tap.N", is listed with the tap.
		want := "heraldtest.Settle: the broker did not go idle within 1m0s; what holds it up:\n" +
			"\tqueue \"audit\": 1 ready, 0 unacked, 0 delayed, 0 scheduled; no consumer\n" +
			"taps:\n" +
			"\ttopic exchange \"events\": 1 recorded; tap queue \"heraldtest.tap."
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `": 0 ready, 0 unacked`) {
			t.Errorf("reported:\n%s\nwant:\n%s...", got, want)
		}
		// The fake test's cleanup (the leak check) may add a moment after.
		if d := time.Since(start); d < time.Minute || d > time.Minute+time.Second {
			t.Errorf("Settle waited %v, want the settle timeout, 1m", d)
		}
	})
}

// Settle's report has a line for each queue that holds a message and each
// topic that may, and none for what is idle.
func TestSettleReportListsEachHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := runFake(t, func(ft testing.TB) {
			b := heraldtest.NewBroker(ft, heraldtest.WithSettleTimeout(time.Minute))
			ctx := context.Background()
			must[*herald.Queue](t)(b.Queue("idle"))

			stuck := must[*herald.Queue](t)(b.Queue("stuck"))
			consume(ft, stuck, func(ctx context.Context, _ *herald.Delivery) error { <-ctx.Done(); return ctx.Err() })
			mustOK(t, stuck.Publish(ctx, herald.NewMessage("handled forever")))

			retrying := must[*herald.Queue](t)(b.Queue("retrying", herald.WithBackoff(time.Hour, time.Hour)))
			consume(ft, retrying, func(context.Context, *herald.Delivery) error { return errors.New("not yet") })
			mustOK(t, retrying.Publish(ctx, herald.NewMessage("backing off")))

			later := must[*herald.Queue](t)(b.Queue("later"))
			mustOK(t, later.Publish(ctx, &herald.Message{Body: "in an hour", Delay: time.Hour}))
			mustOK(t, later.Publish(ctx, herald.NewMessage("now")))

			// Read to the end by its only subscription, a tap: not listed.
			news := must[*herald.Topic](t)(b.Topic("news", herald.WithCapacity(4)))
			heraldtest.Tap(ft, b, "news")
			mustOK(t, news.Publish(ctx, herald.NewMessage("read")))

			prices := must[*herald.Topic](t)(b.Topic("prices"))
			must[*herald.Subscription](t)(prices.Subscribe(herald.WithGroup("workers")))
			heraldtest.Tap(ft, b, "prices")
			mustOK(t, prices.Publish(ctx, herald.NewMessage(9.5)))

			alerts := must[*herald.Topic](t)(b.Topic("alerts"))
			must[*herald.Subscription](t)(alerts.Subscribe())
			must[*herald.Subscription](t)(alerts.Subscribe())
			mustOK(t, alerts.Publish(ctx, herald.NewMessage("unread")))

			heraldtest.Settle(ft, b)
			t.Error("Settle returned")
		})
		want := "heraldtest.Settle: the broker did not go idle within 1m0s; what holds it up:\n" +
			"\ttopic \"alerts\": 1 published; 2 plain subscriptions, 0 groups, whose backlogs are not visible\n" +
			"\tqueue \"later\": 1 ready, 0 unacked, 0 delayed, 1 scheduled; no consumer\n" +
			"\ttopic \"prices\": 1 published; 0 plain subscriptions, 1 group, whose backlogs are not visible\n" +
			"\tqueue \"retrying\": 0 ready, 0 unacked, 1 delayed, 0 scheduled; 1 consumer\n" +
			"\tqueue \"stuck\": 0 ready, 1 unacked, 0 delayed, 0 scheduled; 1 consumer\n" +
			"taps:\n" +
			"\ttopic \"news\": 1 recorded; tap subscription: 0 unread, 0 unacked\n" +
			"\ttopic \"prices\": 1 recorded; tap subscription: 0 unread, 0 unacked"
		if got := f.output(); got != want {
			t.Errorf("reported:\n%s\nwant:\n%s", got, want)
		}
	})
}

// Settle lists what holds a broker that heraldtest did not make too.
func TestSettleReportOnPlainBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := herald.New()
		defer b.Close()
		must[*herald.Queue](t)(b.Queue("jobs", herald.WithCapacity(10)))
		mustOK(t, b.Publish(context.Background(), "jobs", herald.NewMessage(1)))
		mustOK(t, b.Publish(context.Background(), "jobs", herald.NewMessage(2)))
		f := runFake(t, func(ft testing.TB) { heraldtest.Settle(ft, b) })
		want := "heraldtest.Settle: the broker did not go idle within 1h0m0s; what holds it up:\n" +
			"\tqueue \"jobs\": 2 ready, 0 unacked, 0 delayed, 0 scheduled; no consumer"
		if got := f.output(); got != want {
			t.Errorf("reported:\n%s\nwant:\n%s", got, want)
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
