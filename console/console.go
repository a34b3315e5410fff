package console

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldmq/herald"
)

// Option configures the console; pass options to [Handler].
type Option interface{ apply(*config) }

type config struct {
	actions bool
	logger  *slog.Logger
	cop     *http.CrossOriginProtection
	refresh time.Duration
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// AllowActions turns on the console's actions: purging a queue, moving dead
// letters back and publishing a test message. Without it the console is
// read-only and every action is refused with 403. Mount a console that
// allows actions behind the application's authentication.
func AllowActions() Option { return optionFunc(func(c *config) { c.actions = true }) }

// WithLogger sets where actions are logged, each one (refused ones too)
// with what it did and the client's address. Default: slog.Default().
// Given twice, the last wins.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithCrossOriginProtection sets the protection that refuses actions sent
// from another origin, for an application that must trust some origins or
// already has one configured. Default: http.NewCrossOriginProtection(),
// which trusts no other origin. Given twice, the last wins.
func WithCrossOriginProtection(p *http.CrossOriginProtection) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.cop = p
		}
	})
}

// WithRefresh sets how often an open page polls the API. Default one
// second; at least 100ms. Given twice, the last wins.
func WithRefresh(d time.Duration) Option {
	return optionFunc(func(c *config) { c.refresh = max(d, 100*time.Millisecond) })
}

// IdleAfter is how long after the last API read the console drops the
// Stats samples it computes rates from: a closed page stops reading.
const IdleAfter = 15 * time.Second

// maxBody bounds an action's JSON request body.
const maxBody = 64 << 10

// Handler returns the console of b: the page at the root of where it is
// mounted and the JSON API under api/ (see the package doc). It works
// mounted on an [http.ServeMux] pattern such as "/herald/", behind
// [http.StripPrefix], or as a server's whole handler. It is safe for
// concurrent use. It runs nothing in the background but one timer, which
// drops the rate samples [IdleAfter] after the API was last read. It never
// panics on a request: a panic while serving one is answered with 500 and
// logged. Having no error to return, Handler ignores a nil option, as
// herald.New does, and, given a nil b, returns a handler that answers
// every request with 500 and a JSON error saying so (and logs it once,
// now), rather than panic.
//
// Serving a request runs no handler of the application, but showing a
// message body runs the body's own String, Error or Format method, if it
// has one.
func Handler(b *herald.Broker, opts ...Option) http.Handler {
	c := config{logger: slog.Default(), cop: http.NewCrossOriginProtection(), refresh: time.Second}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if b == nil {
		c.logger.Error(errNilBroker + ": every request is answered with 500")
		return nilBroker{}
	}
	h := &handler{b: b, cfg: c, rates: newSampler()}
	h.routes = map[string]route{
		"state":     {http.MethodGet, false, h.serveState},
		"overview":  {http.MethodGet, false, h.serveOverview},
		"names":     {http.MethodGet, false, h.serveNames},
		"graph":     {http.MethodGet, false, h.serveGraph},
		"queues":    {http.MethodGet, true, h.serveQueues},
		"topics":    {http.MethodGet, true, h.serveTopics},
		"exchanges": {http.MethodGet, true, h.serveExchanges},
		"messages":  {http.MethodGet, true, h.serveMessages},
		"purge":     {http.MethodPost, true, h.action("purge", h.purge)},
		"move":      {http.MethodPost, true, h.action("move", h.move)},
		"publish":   {http.MethodPost, true, h.action("publish", h.publish)},
	}
	return h
}

const errNilBroker = "herald console: Handler was given a nil broker"

// nilBroker is the console of a nil broker: an error for every request.
type nilBroker struct{}

func (nilBroker) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusInternalServerError, "%s", errNilBroker)
}

type handler struct {
	b      *herald.Broker
	cfg    config
	rates  *sampler
	routes map[string]route // by the word after api/
}

// route is one API endpoint: api/WORD, or api/WORD/NAME when withName.
type route struct {
	method   string
	withName bool
	serve    func(w http.ResponseWriter, r *http.Request, name string)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.cfg.logger.Error("herald console: panic while serving", "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, "internal error: %v", v)
		}
	}()
	path, ok := h.localPath(r)
	if !ok {
		// Mounted under StripPrefix("/x") and asked for "/x": the page's
		// relative links need the trailing slash.
		base := r.URL.Path
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			base = u.Path
		}
		// Set directly: http.Redirect would resolve it against the
		// stripped path.
		w.Header().Set("Location", base[strings.LastIndex(base, "/")+1:]+"/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	h.route(w, r, path)
}

// localPath returns the request's escaped path relative to where the
// console is mounted, without its leading slash; false for an empty path.
func (h *handler) localPath(r *http.Request) (string, bool) {
	p := r.URL.EscapedPath()
	if pat := r.Pattern; pat != "" {
		// "GET example.com/herald/" mounts at "/herald".
		if i := strings.IndexByte(pat, '/'); i >= 0 {
			prefix := strings.TrimSuffix(pat[i:], "/")
			if prefix != "" && strings.HasPrefix(p, prefix+"/") {
				p = p[len(prefix):]
			}
		}
	}
	if p == "" {
		return "", false
	}
	return strings.TrimPrefix(p, "/"), true
}

// route serves the local path p (escaped, without its leading slash).
func (h *handler) route(w http.ResponseWriter, r *http.Request, p string) {
	if p == "" || p == "index.html" {
		if !allow(w, r, http.MethodGet) {
			return
		}
		h.servePage(w, r)
		return
	}
	rest, ok := strings.CutPrefix(p, "api/")
	if !ok {
		writeError(w, http.StatusNotFound, "no such page: %q", p)
		return
	}
	word, escName, hasName := strings.Cut(rest, "/")
	name := ""
	if hasName {
		n, err := url.PathUnescape(escName)
		if err != nil || n == "" {
			writeError(w, http.StatusBadRequest, "malformed name in path %q", p)
			return
		}
		name = n
	}
	rt, ok := h.routes[word]
	switch {
	case !ok, hasName && !rt.withName:
		writeError(w, http.StatusNotFound, "no such API: %q", p)
		return
	case !hasName && rt.method == http.MethodPost, !hasName && word == "messages":
		writeError(w, http.StatusNotFound, "api/%s needs a name: api/%s/NAME", word, word)
		return
	}
	if !allow(w, r, rt.method) {
		return
	}
	rt.serve(w, r, name)
}

// allow answers 405 unless r's method is method (or HEAD for GET).
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	if method == http.MethodGet {
		w.Header().Set("Allow", "GET, HEAD")
	} else {
		w.Header().Set("Allow", method)
	}
	writeError(w, http.StatusMethodNotAllowed, "method %s not allowed, use %s", r.Method, method)
	return false
}
