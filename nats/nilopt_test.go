package heraldnats_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats.go"
)

// A nil option is bad input, as in herald: every call that takes options
// returns an error wrapping ErrInvalid (and herald.ErrInvalid), before it
// opens or starts anything.
func TestNilOptionInvalid(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	mustQueue(t, b, "q")
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	ctx := testContext(t, 10*time.Second)
	nc, err := nats.Connect(s.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for name, call := range map[string]func() error{
		"Connect": func() error {
			br, err := heraldnats.Connect(b, s.url(), nil)
			if err == nil {
				br.Close()
			}
			return err
		},
		"New": func() error {
			br, err := heraldnats.New(b, nc, heraldnats.WithLogger(nil), nil)
			if err == nil {
				br.Close()
			}
			return err
		},
		"Export": func() error { _, err := br.Export(heraldnats.FromQueue("q"), "out", nil); return err },
		"Import": func() error { _, err := br.Import(ctx, "ORDERS", "d", "q", nil); return err },
		"ExportRequests": func() error {
			_, err := br.ExportRequests(heraldnats.FromQueue("q"), "rpc", nil)
			return err
		},
		"ImportRequests": func() error { _, err := br.ImportRequests("rpc", "q", nil); return err },
	} {
		if err := call(); !errors.Is(err, heraldnats.ErrInvalid) || !errors.Is(err, herald.ErrInvalid) {
			t.Errorf("%s with a nil option: %v, want ErrInvalid", name, err)
		}
	}
}
