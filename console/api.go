package console

import (
	"net/http"
	"strconv"

	"github.com/heraldmq/herald"
)

// The read-only endpoints. Each answers with the current state; the ones
// that carry rates also sample the broker (see sampler).

func (h *handler) serveState(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, http.StatusOK, h.collect())
}

func (h *handler) serveOverview(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, http.StatusOK, h.collect().Overview)
}

func (h *handler) serveGraph(w http.ResponseWriter, r *http.Request, _ string) {
	xs := []exchangeView{}
	for _, name := range h.b.Names() {
		if x, err := h.b.LookupExchange(name); err == nil {
			xs = append(xs, newExchangeView(h.b, x))
		}
	}
	writeJSON(w, http.StatusOK, layout(xs))
}

func (h *handler) serveNames(w http.ResponseWriter, r *http.Request, _ string) {
	out := []nameView{}
	for _, name := range h.b.Names() {
		if k := kindOf(h.b, name); k != "" {
			out = append(out, nameView{Name: name, Kind: k})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) serveQueues(w http.ResponseWriter, r *http.Request, name string) {
	if declared(w, name, h.b.LookupQueue) {
		writeOneOrAll(w, name, h.collect().Queues, func(q queueView) string { return q.Name })
	}
}

func (h *handler) serveTopics(w http.ResponseWriter, r *http.Request, name string) {
	if declared(w, name, h.b.LookupTopic) {
		writeOneOrAll(w, name, h.collect().Topics, func(t topicView) string { return t.Name })
	}
}

// declared reports whether name is "" (every one is asked for) or is
// declared as lookup's kind; if not, it answers 404.
func declared[T any](w http.ResponseWriter, name string, lookup func(string) (T, error)) bool {
	if name == "" {
		return true
	}
	if _, err := lookup(name); err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return false
	}
	return true
}

// writeOneOrAll answers with the view called name, or with every view when
// none is (name is "").
func writeOneOrAll[V any](w http.ResponseWriter, name string, all []V, nameOf func(V) string) {
	for _, v := range all {
		if nameOf(v) == name {
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	writeJSON(w, http.StatusOK, all)
}

func (h *handler) serveExchanges(w http.ResponseWriter, r *http.Request, name string) {
	if name != "" {
		x, err := h.b.LookupExchange(name)
		if err != nil {
			writeError(w, http.StatusNotFound, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, newExchangeView(h.b, x))
		return
	}
	xs := []exchangeView{}
	for _, name := range h.b.Names() {
		if x, err := h.b.LookupExchange(name); err == nil {
			xs = append(xs, newExchangeView(h.b, x))
		}
	}
	writeJSON(w, http.StatusOK, xs)
}

// messagesView answers api/messages/NAME.
type messagesView struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Total is how many messages there are to browse: a queue's ready
	// ones, a topic's retained ones.
	Total    int           `json:"total"`
	Messages []messageView `json:"messages"`
}

// Browsing bounds.
const (
	defaultBrowse = 50
	maxBrowse     = 500
)

func (h *handler) serveMessages(w http.ResponseWriter, r *http.Request, name string) {
	query := r.URL.Query()
	n := defaultBrowse
	if s := query.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxBrowse {
			writeError(w, http.StatusBadRequest, "n=%q: want a number from 1 to %d", s, maxBrowse)
			return
		}
		n = v
	}
	var from uint64
	hasFrom := query.Has("from")
	if hasFrom {
		v, err := strconv.ParseUint(query.Get("from"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "from=%q: want a sequence number", query.Get("from"))
			return
		}
		from = v
	}
	var ms []herald.BrowsedMessage
	out := messagesView{Name: name, Messages: []messageView{}}
	switch kindOf(h.b, name) {
	case "queue":
		if hasFrom {
			writeError(w, http.StatusBadRequest, "from: a queue is browsed from its head; from is for topics")
			return
		}
		q, _ := h.b.LookupQueue(name)
		out.Kind, out.Total = "queue", q.Len()
		ms = q.Browse(n)
	case "topic":
		t, _ := h.b.LookupTopic(name)
		s := t.Stats()
		out.Kind, out.Total = "topic", s.Retained
		if !hasFrom && s.Published >= uint64(n) {
			from = s.Published - uint64(n) + 1 // the last n
		}
		ms = t.Browse(from, n)
	case "exchange":
		writeError(w, http.StatusBadRequest, "%q is an exchange, which holds no message", name)
		return
	default:
		writeError(w, http.StatusNotFound, "%v: %q", herald.ErrNotFound, name)
		return
	}
	for _, m := range ms {
		out.Messages = append(out.Messages, newMessageView(m))
	}
	writeJSON(w, http.StatusOK, out)
}
