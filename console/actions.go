package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/heraldmq/herald"
)

// actionTimeout bounds how long an action waits for a destination with
// room (a queue that is full under OverflowBlock).
const actionTimeout = 5 * time.Second

type actionFunc func(w http.ResponseWriter, r *http.Request, name string, log *slog.Logger)

// action guards an action: refused with 403 unless actions are allowed
// and the request comes from the page's own origin; logged either way.
func (h *handler) action(what string, do actionFunc) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, name string) {
		log := h.cfg.logger.With("action", what, "name", name, "remote", r.RemoteAddr)
		if !h.cfg.actions {
			log.Warn("herald console: action refused: actions are off")
			writeError(w, http.StatusForbidden, "actions are off: the console was made without console.AllowActions()")
			return
		}
		if err := h.cfg.cop.Check(r); err != nil {
			log.Warn("herald console: action refused: cross-origin request", "origin", r.Header.Get("Origin"), "error", err)
			writeError(w, http.StatusForbidden, "cross-origin request refused: %v", err)
			return
		}
		do(w, r, name, log)
	}
}

// purgeResult answers api/purge/NAME.
type purgeResult struct {
	Queue  string `json:"queue"`
	Purged int    `json:"purged"`
}

func (h *handler) purge(w http.ResponseWriter, r *http.Request, name string, log *slog.Logger) {
	q, err := h.b.LookupQueue(name)
	if err != nil {
		log.Warn("herald console: purge refused", "error", err)
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	n := q.Purge()
	log.Info("herald console: purged", "messages", n)
	writeJSON(w, http.StatusOK, purgeResult{Queue: name, Purged: n})
}

// moveResult answers api/move/NAME.
type moveResult struct {
	Queue string `json:"queue"`
	// Moved counts the dead letters published back to their queue.
	Moved int `json:"moved"`
	// Left counts those that could not be (no x-death-queue header, no
	// such queue, or the queue refused it): they were nacked, so they stay
	// in this queue, ready again after its back-off.
	Left   int      `json:"left"`
	Errors []string `json:"errors"` // why, for the first few left
}

// maxMoveErrors bounds the reasons moveResult lists.
const maxMoveErrors = 10

// move takes every message ready in the queue name, a dead-letter queue,
// and publishes it back to the queue its x-death-queue header names, with
// its ID, key, headers (less the x-death ones), body and the rest; the
// original is acked once the copy is published, so a message is never in
// neither queue.
func (h *handler) move(w http.ResponseWriter, r *http.Request, name string, log *slog.Logger) {
	dq, err := h.b.LookupQueue(name)
	if err != nil {
		log.Warn("herald console: move refused", "error", err)
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	// Receive with an ended context takes a ready message, never waits.
	now, stop := context.WithCancel(context.Background())
	stop()
	res := moveResult{Queue: name, Errors: []string{}}
	leave := func(d *herald.Delivery, why error) {
		res.Left++
		if len(res.Errors) < maxMoveErrors {
			res.Errors = append(res.Errors, d.ID+": "+why.Error())
		}
		d.Nack()
	}
	for range dq.Len() {
		d, err := dq.Receive(now)
		if err != nil {
			break // taken by a consumer meanwhile
		}
		if ctx.Err() != nil {
			leave(d, ctx.Err())
			continue
		}
		origin := d.Headers[herald.HeaderDeathQueue]
		if origin == "" {
			leave(d, errors.New("no "+herald.HeaderDeathQueue+" header: not a dead letter"))
			continue
		}
		if _, err := h.b.LookupQueue(origin); err != nil {
			leave(d, err)
			continue
		}
		if err := h.b.Publish(ctx, origin, revived(d.Message)); err != nil {
			leave(d, err)
			continue
		}
		d.Ack()
		res.Moved++
	}
	log.Info("herald console: moved dead letters back", "moved", res.Moved, "left", res.Left)
	writeJSON(w, http.StatusOK, res)
}

// revived is a dead letter as it was before it died: the same message
// without the x-death headers, to be published anew.
func revived(m *herald.Message) *herald.Message {
	h := maps.Clone(m.Headers)
	maps.DeleteFunc(h, func(k, _ string) bool { return strings.HasPrefix(k, deathPrefix) })
	return &herald.Message{
		ID: m.ID, Key: m.Key, Headers: h, Body: m.Body,
		CorrelationID: m.CorrelationID, ReplyTo: m.ReplyTo, Priority: m.Priority,
	}
}

// publishRequest is api/publish/NAME's body.
type publishRequest struct {
	Key     string         `json:"key"`
	Headers herald.Headers `json:"headers"`
	Body    string         `json:"body"`
}

type publishResult struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

func (h *handler) publish(w http.ResponseWriter, r *http.Request, name string, log *slog.Logger) {
	var req publishRequest
	if err := decodeBody(w, r, &req); err != nil {
		log.Warn("herald console: publish refused", "error", err)
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if kindOf(h.b, name) == "" {
		log.Warn("herald console: publish refused", "error", "not found")
		writeError(w, http.StatusNotFound, "%v: %q", herald.ErrNotFound, name)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	m := &herald.Message{Key: req.Key, Headers: req.Headers, Body: req.Body}
	if err := h.b.Publish(ctx, name, m); err != nil {
		log.Warn("herald console: publish failed", "error", err)
		writeError(w, publishStatus(err), "%v", err)
		return
	}
	log.Info("herald console: published a test message", "id", m.ID, "key", m.Key)
	writeJSON(w, http.StatusOK, publishResult{Name: name, ID: m.ID})
}

// publishStatus is the HTTP status of a failed publish.
func publishStatus(err error) int {
	switch {
	case errors.Is(err, herald.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, herald.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, herald.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout
	}
	// Full, unroutable, duplicate: the destination refused it.
	return http.StatusConflict
}

// decodeBody decodes r's JSON body, at most maxBody bytes of one object
// with no unknown field, into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errors.New("request body over 64 KiB")
		}
		return errors.New("reading the request body: " + err.Error())
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New(`malformed JSON body: want an object such as {"key": "k", "headers": {"h": "v"}, "body": "text"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed JSON body: " + err.Error())
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return errors.New("malformed JSON body: more after the object")
	}
	return nil
}
