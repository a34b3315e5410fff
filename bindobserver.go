package herald

import (
	"context"
	"errors"
	"log/slog"
)

// AsObserver makes a binding an observer, in the spirit of RabbitMQ's
// firehose tracer: its destination gets a copy of each message the binding
// matches, but only of messages that the exchange's other bindings (or its
// alternate exchange) route somewhere, and the binding never makes a
// message routable: a message that only observers match still returns
// ErrUnroutable, or goes to the alternate exchange. An observer on an
// exchange that another exchange routes to sees the messages routed
// through it.
//
// The key and headers mean what they mean for the exchange's kind. An
// observer binding is bound and unbound by (dest, key) like any other;
// dest may not also be bound with the same key as a plain binding (Bind
// returns an error wrapping ErrExists). Its destination gets the message
// before the real destinations, so that what it records comes before what
// their consumers do with the message, and gets it even when it is also
// one of them. A copy an observer's destination refuses (full, closed)
// changes nothing for the publisher: it is logged at Warn level.
func AsObserver() BindOption { return asObserverOption{} }

type asObserverOption struct{}

func (asObserverOption) applyBind(c *bindConfig) { c.observer = true }

// watcher returns the hidden exchange that holds e's observer bindings:
// of e's kind and name, in no namespace, with no alternate. e.mu is held.
func (e *Exchange) watcherLocked() *Exchange {
	if w := e.watch.Load(); w != nil {
		return w
	}
	w := &Exchange{b: e.b, name: e.name, xkind: e.xkind, observing: true}
	var t *table
	w.routes, t = newRoutes(e.xkind)
	w.table.Store(t)
	e.watch.Store(w)
	return w
}

// bindObserver binds dest with key as an observer of e.
func (e *Exchange) bindObserver(dest, key string, opts []BindOption) error {
	e.mu.Lock()
	_, plain := e.routes.bindings[bindingKey{dest, key}]
	w := e.watcherLocked()
	e.mu.Unlock()
	if plain {
		return existsObserver(e.name, dest, key, "a plain binding")
	}
	return w.Bind(dest, key, opts...)
}

func existsObserver(exchange, dest, key, what string) error {
	return &existsBindingError{exchange: exchange, dest: dest, key: key, what: what}
}

type existsBindingError struct{ exchange, dest, key, what string }

func (e *existsBindingError) Error() string {
	return "herald: exchange " + quote(e.exchange) + ": " + quote(e.dest) + " is bound with key " + quote(e.key) + " as " + e.what
}

func (e *existsBindingError) Unwrap() error { return ErrExists }

func quote(s string) string { return `"` + s + `"` }

// observedBy reports whether dest is bound with key as an observer of e.
func (e *Exchange) observedBy(dest, key string) bool {
	w := e.watch.Load()
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.routes.bindings[bindingKey{dest, key}]
	return ok
}

// unbindObserver removes an observer binding; ok is false if there is none.
func (e *Exchange) unbindObserver(dest, key string) (ok bool, err error) {
	w := e.watch.Load()
	if w == nil || !e.observedBy(dest, key) {
		return false, nil
	}
	return true, w.Unbind(dest, key)
}

// notifyObservers hands m, which x routed somewhere, to x's observer
// bindings that match it.
func (x *Exchange) notifyObservers(ctx context.Context, m *Message, internal bool) {
	w := x.watch.Load()
	if w == nil {
		return
	}
	err := w.put(ctx, m, internal)
	if err == nil || errors.Is(err, ErrUnroutable) {
		return
	}
	x.b.log(slog.LevelWarn, "observer binding refused a copy", "exchange", x.name, "id", m.ID, "error", err)
}

// observerBindings returns e's observer bindings, as Bindings reports them.
func (e *Exchange) observerBindings() []Binding {
	w := e.watch.Load()
	if w == nil {
		return nil
	}
	out := w.Bindings()
	for i := range out {
		out[i].Observer = true
	}
	return out
}
