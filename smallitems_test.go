package herald

import (
	"errors"
	"strings"
	"testing"
)

// WithPriorities takes 1 to MaxPriorities levels; 0 is a mistake, not "none".
func TestWithPrioritiesZeroIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	for _, n := range []int{0, -1, MaxPriorities + 1} {
		if _, err := b.Queue("q", WithPriorities(n)); !errors.Is(err, ErrInvalid) {
			t.Errorf("WithPriorities(%d) = %v, want ErrInvalid", n, err)
		}
	}
	q := mustQueue(t, b, "one", WithPriorities(1))
	if again := mustQueue(t, b, "one"); again != q {
		t.Error("WithPriorities(1) is the default, yet declaring again without it failed")
	}
}

// A name with a non-ASCII character names it as a character, not as one
// of its bytes.
func TestNameErrorPrintsTheRune(t *testing.T) {
	b := newTestBroker(t)
	_, err := b.Queue("caf\u00e9")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `'é' at byte 3`) {
		t.Errorf("Queue(\"café\") = %v, want ErrInvalid naming 'é' at byte 3", err)
	}
}

// Errors that wrap another herald error do not repeat the "herald: "
// prefix.
func TestWrappedErrorsSayHeraldOnce(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	for _, err := range []error{
		x.Bind("q", "a..b"),
		x.Bind("q", "a b"),
		func() error { _, err := b.Queue("q", WithCapacity(-1)); return err }(),
		func() error { _, err := b.Queue("q", WithCapacity(3)); return err }(),
		x.Bind("missing", "a"),
	} {
		if err == nil {
			t.Error("a bad call returned nil")
			continue
		}
		if n := strings.Count(err.Error(), "herald:"); n != 1 {
			t.Errorf("error %q says herald: %d times, want once", err, n)
		}
	}
}

// A topic pattern with a space is refused: no routing key has one by
// mistake, and RabbitMQ users quote keys, not words.
func TestTopicPatternWithSpaceIsRefused(t *testing.T) {
	b := newTestBroker(t)
	x := mustExchange(t, b, "x", TopicExchange)
	mustQueue(t, b, "q")
	for _, p := range []string{"a b", "a. b", " a", "a\tb", "a.b\n"} {
		if err := x.Bind("q", p); !errors.Is(err, ErrBadPattern) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Bind(%q) = %v, want ErrBadPattern and ErrInvalid", p, err)
		}
	}
}
