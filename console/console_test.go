package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldmq/herald"
)

func TestPage(t *testing.T) {
	b := newTestBroker(t)
	h := Handler(b)
	w := call(t, h, "GET", "/", "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	page := w.Body.String()
	for _, want := range []string{`<script nonce="` + m[1] + `">`, `<style nonce="` + m[1] + `">`, `data-actions="false"`, "read-only", "api/state"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, external := range []string{"http://", "https://", "//cdn"} {
		if i := strings.Index(page, external); i >= 0 && !strings.Contains(page[i:i+40], "www.w3.org/2000/svg") {
			t.Errorf("page refers to an external address: %q", page[i:min(len(page), i+60)])
		}
	}
	if again := call(t, h, "GET", "/", ""); again.Header().Get("Content-Security-Policy") == csp {
		t.Error("the nonce is the same for two page loads")
	}
	if w := call(t, Handler(b, AllowActions()), "GET", "/", ""); !strings.Contains(w.Body.String(), `data-actions="true"`) ||
		!strings.Contains(w.Body.String(), `id="pub-send"`) {
		t.Error("with AllowActions the page does not offer actions")
	}
}

// TestMounting serves the console the three ways the package doc names.
func TestMounting(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "orders")
	direct := http.NewServeMux()
	direct.Handle("/herald/", Handler(b))
	stripped := http.NewServeMux()
	stripped.Handle("/herald/", http.StripPrefix("/herald", Handler(b)))
	withMethod := http.NewServeMux()
	withMethod.Handle("GET /ops/herald/", Handler(b))
	for _, c := range []struct {
		name string
		h    http.Handler
		base string
	}{
		{"whole server", Handler(b), "/"},
		{"mux pattern", direct, "/herald/"},
		{"StripPrefix", stripped, "/herald/"},
		{"mux pattern with a method", withMethod, "/ops/herald/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if w := call(t, c.h, "GET", c.base, ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "herald console") {
				t.Fatalf("GET %s = %d", c.base, w.Code)
			}
			qs := decode[[]queueView](t, call(t, c.h, "GET", c.base+"api/queues", ""), http.StatusOK)
			if len(qs) != 1 || qs[0].Name != "orders" {
				t.Fatalf("GET %sapi/queues = %+v", c.base, qs)
			}
			wantError(t, call(t, c.h, "GET", c.base+"api/queues/nope", ""), http.StatusNotFound, "nope")
		})
	}
	// StripPrefix("/herald") as a server's handler leaves "" for "/herald":
	// the page's relative links need the slash.
	w := call(t, http.StripPrefix("/herald", Handler(b)), "GET", "/herald", "")
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "herald/" {
		t.Fatalf("GET /herald under StripPrefix = %d, Location %q", w.Code, w.Header().Get("Location"))
	}
}

func TestBadRequests(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "q")
	h := Handler(b, AllowActions())
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", http.StatusNotFound, ""},
		{"GET", "/api", http.StatusNotFound, ""},
		{"GET", "/api/", http.StatusNotFound, ""},
		{"GET", "/api/nope", http.StatusNotFound, ""},
		{"GET", "/api/state/q", http.StatusNotFound, ""},
		{"GET", "/api/messages", http.StatusNotFound, ""},
		{"POST", "/api/purge", http.StatusNotFound, ""},
		{"GET", "/api/queues/", http.StatusBadRequest, ""},
		{"POST", "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"POST", "/api/state", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/api/queues/q", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/api/purge/q", http.StatusMethodNotAllowed, "POST"},
		{"PUT", "/api/publish/q", http.StatusMethodNotAllowed, "POST"},
	} {
		w := call(t, h, c.method, c.path, "")
		if w.Code != c.status || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s = %d, Allow %q; want %d, Allow %q", c.method, c.path, w.Code, w.Header().Get("Allow"), c.status, c.allow)
			continue
		}
		wantError(t, w, c.status)
	}
	if s := b.Names(); len(s) != 1 {
		t.Fatalf("names after bad requests: %v", s)
	}
}

func TestHeadIsGet(t *testing.T) {
	b := newTestBroker(t)
	if w := call(t, Handler(b), "HEAD", "/api/names", ""); w.Code != http.StatusOK {
		t.Fatalf("HEAD api/names = %d", w.Code)
	}
}

func TestNamesWithSlashes(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "billing/invoices")
	h := Handler(b)
	for _, p := range []string{"/api/queues/billing/invoices", "/api/queues/billing%2Finvoices"} {
		if q := decode[queueView](t, call(t, h, "GET", p, ""), http.StatusOK); q.Name != "billing/invoices" {
			t.Fatalf("GET %s = %+v", p, q)
		}
	}
}

// A nil option is ignored, as herald.New ignores one.
func TestHandlerNilOption(t *testing.T) {
	b := newTestBroker(t)
	if w := call(t, Handler(b, nil), "GET", "/api/names", ""); w.Code != http.StatusOK {
		t.Fatalf("GET api/names with a nil option = %d", w.Code)
	}
}

// Handler(nil) does not panic: it logs the mistake once and answers every
// request, the page and the API, with 500 and an error naming it.
func TestHandlerNilBroker(t *testing.T) {
	log, out := newLog()
	h := Handler(nil, WithLogger(log))
	if !strings.Contains(out.String(), "nil broker") {
		t.Errorf("Handler(nil) logged %q, want the nil broker named", out.String())
	}
	for _, path := range []string{"/", "/api/names", "/api/queues/q", "/api/purge/q"} {
		wantError(t, call(t, h, "GET", path, ""), http.StatusInternalServerError, "nil broker")
	}
	wantError(t, call(t, Handler(nil), "POST", "/api/publish/q", `{}`), http.StatusInternalServerError, "nil broker")
}

// A panic while serving is answered and logged, never passed on.
func TestPanicIsAnswered(t *testing.T) {
	b := newTestBroker(t)
	log, out := newLog()
	h := Handler(b, WithLogger(log)).(*handler)
	h.routes["boom"] = route{http.MethodGet, false, func(http.ResponseWriter, *http.Request, string) { panic("boom") }}
	wantError(t, call(t, h, "GET", "/api/boom", ""), http.StatusInternalServerError, "boom")
	if !strings.Contains(out.String(), "panic") {
		t.Fatalf("log %q does not tell of the panic", out)
	}
}

func TestRealServer(t *testing.T) {
	b := newTestBroker(t)
	srv := httptest.NewServer(Handler(b))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/names")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET api/names = %d", res.StatusCode)
	}
	_ = herald.ErrNotFound
}
