package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

// FuzzAPI sends arbitrary methods, paths, bodies and origins to a console
// with actions on: every answer is one of the documented statuses, never
// 500, and every API answer is JSON.
func FuzzAPI(f *testing.F) {
	b := newTestBroker(f)
	// Nothing here can block a publish: a fuzzer must not wait.
	mustQueue(f, b, "q", herald.WithCapacity(64), herald.WithOverflow(herald.OverflowDropOldest), herald.WithDeadLetter("dead"))
	mustQueue(f, b, "dead", herald.WithCapacity(64), herald.WithOverflow(herald.OverflowReject))
	mustQueue(f, b, "a/b", herald.WithCapacity(4), herald.WithOverflow(herald.OverflowReject))
	tp := mustTopic(f, b, "t", herald.WithCapacity(16), herald.WithOverflow(herald.OverflowDropOldest))
	sub, err := tp.Subscribe(herald.WithGroup("g"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sub.Close() })
	x := mustExchange(f, b, "x", herald.TopicExchange, herald.WithAlternate("nowhere"))
	if err := x.Bind("q", "a.*"); err != nil {
		f.Fatal(err)
	}
	publish(f, b, "dead", &herald.Message{Body: []byte{0, 1, 2}, Headers: herald.Headers{herald.HeaderDeathQueue: "q"}})
	log, _ := newLog()
	h := Handler(b, AllowActions(), WithLogger(log))

	for _, seed := range []struct{ method, path, body, origin string }{
		{"GET", "/", "", ""},
		{"GET", "/api/state", "", ""},
		{"GET", "/api/messages/q?n=5", "", ""},
		{"GET", "/api/messages/t?from=3&n=2", "", ""},
		{"GET", "/api/queues/a%2Fb", "", ""},
		{"POST", "/api/publish/x", `{"key":"a.b","headers":{"h":"v"},"body":"hi"}`, ""},
		{"POST", "/api/publish/q", `{"body":`, ""},
		{"POST", "/api/purge/q", "", "http://evil.example"},
		{"POST", "/api/move/dead", "", ""},
		{"DELETE", "/api/topics/t", "", ""},
		{"GET", "/api/../../etc/passwd", "", ""},
	} {
		f.Add(seed.method, seed.path, seed.body, seed.origin)
	}
	f.Fuzz(func(t *testing.T, method, path, body, origin string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://console.test"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a server would pass on
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		if d := time.Since(start); d > actionTimeout/2 {
			t.Fatalf("%s %q took %v: no request here may wait for room", method, path, d)
		}
		switch w.Code {
		case http.StatusOK, http.StatusMovedPermanently, http.StatusBadRequest, http.StatusForbidden,
			http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusConflict:
		default:
			t.Fatalf("%s %q (body %q, origin %q) = %d: %s", method, path, body, origin, w.Code, w.Body)
		}
		if w.Code == http.StatusMovedPermanently || strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			return
		}
		raw, _ := io.ReadAll(w.Body)
		if !json.Valid(raw) {
			t.Fatalf("%s %q = %d with a body that is not JSON: %q", method, path, w.Code, raw)
		}
		if w.Code != http.StatusOK {
			var e apiError
			if json.Unmarshal(raw, &e) != nil || e.Error == "" {
				t.Fatalf("%s %q = %d without an error message: %s", method, path, w.Code, raw)
			}
		}
	})
}
