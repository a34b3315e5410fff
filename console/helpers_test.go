package console

import (
	"context"
	"encoding/json"
	"github.com/heraldmq/herald/internal/testlog"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/internal/leak"
)

// newTestBroker returns a broker closed when the test ends, after which
// the test fails if any goroutine of herald (or of the console) is left.
func newTestBroker(t testing.TB) *herald.Broker {
	t.Helper()
	b := herald.New()
	t.Cleanup(func() {
		b.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return b
}

func mustQueue(t testing.TB, b *herald.Broker, name string, opts ...herald.QueueOption) *herald.Queue {
	t.Helper()
	q, err := b.Queue(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustTopic(t testing.TB, b *herald.Broker, name string, opts ...herald.TopicOption) *herald.Topic {
	t.Helper()
	tp, err := b.Topic(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func mustExchange(t testing.TB, b *herald.Broker, name string, kind herald.ExchangeKind, opts ...herald.ExchangeOption) *herald.Exchange {
	t.Helper()
	x, err := b.Exchange(name, kind, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// call serves one request with h and returns the response. hdr are
// header name, value pairs.
func call(t testing.TB, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// decode decodes w's JSON body into a T, failing the test unless it is
// JSON with status want.
func decode[T any](t testing.TB, w *httptest.ResponseRecorder, want int) T {
	t.Helper()
	var v T
	if w.Code != want {
		t.Fatalf("status %d, want %d; body %s", w.Code, want, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not a %T: %v\n%s", v, err, w.Body)
	}
	return v
}

// wantError fails the test unless w is a JSON error with status want whose
// message contains each of parts.
func wantError(t testing.TB, w *httptest.ResponseRecorder, want int, parts ...string) {
	t.Helper()
	e := decode[apiError](t, w, want)
	if e.Error == "" {
		t.Fatalf("status %d with no error message: %s", w.Code, w.Body)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error, p) {
			t.Fatalf("error %q does not say %q", e.Error, p)
		}
	}
}

func newLog() (*slog.Logger, *testlog.Buffer) {
	var lb testlog.Buffer
	return slog.New(slog.NewTextHandler(&lb, nil)), &lb
}

func publish(t testing.TB, b *herald.Broker, name string, m *herald.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), name, m); err != nil {
		t.Fatalf("Publish to %q: %v", name, err)
	}
}
