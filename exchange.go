package herald

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/internal/match"
)

// ExchangeKind is how an exchange matches messages to its bindings, with the
// semantics of the AMQP 0-9-1 exchange type of the same name. The zero value
// is not a kind: [Broker.Exchange] refuses it.
type ExchangeKind uint8

const (
	// DirectExchange routes a message to the bindings whose key equals the
	// message's Key, byte for byte.
	DirectExchange ExchangeKind = iota + 1
	// FanoutExchange routes every message to every binding; keys are
	// ignored.
	FanoutExchange
	// TopicExchange routes a message to the bindings whose pattern matches
	// its Key. Keys and patterns are words separated by '.', "" being no
	// word at all; in a pattern the word "*" matches exactly one word and
	// "#" zero or more. So "#" matches every key, "" included; "a.#"
	// matches "a"; "a.#.b" matches "a.b"; "*" never matches "". A pattern
	// with an empty word ("a..b"), a word that mixes a wildcard with other
	// characters ("*x", "a.#b") or a space or control character ("a b") is
	// refused by Bind.
	TopicExchange
	// HeadersExchange routes on the message's Headers, as each binding asks
	// with [MatchAll] (the default) or [MatchAny]; keys are ignored.
	HeadersExchange
)

// String returns the kind's name, such as "topic".
func (k ExchangeKind) String() string {
	switch k {
	case DirectExchange:
		return "direct"
	case FanoutExchange:
		return "fanout"
	case TopicExchange:
		return "topic"
	case HeadersExchange:
		return "headers"
	}
	return fmt.Sprintf("ExchangeKind(%d)", uint8(k))
}

// Exchange is a router with no storage: a message published to it goes on
// to the queues, topics and exchanges whose bindings match it, or, when none
// does, to its alternate exchange. Declare one with [Broker.Exchange]; it is
// safe for concurrent use.
//
// Publishing takes no lock (a topic exchange routing a key it has not
// cached takes a read lock that Bind holds only briefly), so changing
// bindings never holds up publishers, and each publish sees the bindings of
// one moment, before or after a concurrent change.
type Exchange struct {
	b     *Broker
	name  string
	xkind ExchangeKind
	cfg   exchangeConfig

	mu     sync.Mutex // serialises Bind and Unbind
	routes routes     // guarded by mu
	table  atomic.Pointer[table]
	// watch holds the observer bindings (see AsObserver): nil until the
	// first; observing marks such a hidden exchange.
	watch     atomic.Pointer[Exchange]
	observing bool
}

// Exchange declares the exchange called name, of the given kind, and
// returns it. Declaring a name again with the same kind and options returns
// the same exchange; with another kind or other options, or a name used by
// a queue or topic, it returns an error wrapping ErrExists. A bad name,
// kind or option returns an error wrapping ErrInvalid, and a closed or
// shutting-down broker ErrClosed.
func (b *Broker) Exchange(name string, kind ExchangeKind, opts ...ExchangeOption) (*Exchange, error) {
	var cfg exchangeConfig
	if err := configure("exchange", name, opts, &cfg, ExchangeOption.applyExchange); err != nil {
		return nil, err
	}
	if kind < DirectExchange || kind > HeadersExchange {
		return nil, invalidf("exchange %q: unknown kind %v", name, kind)
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return declare(b, name,
		func(x *Exchange) error {
			switch {
			case x.xkind != kind:
				return fmt.Errorf("%w: %q is a %v exchange, not a %v exchange", ErrExists, name, x.xkind, kind)
			case x.cfg != cfg:
				return existsError("exchange", name, differ("WithAlternate",
					optionalString(x.cfg.alternate, x.cfg.hasAlternate), optionalString(cfg.alternate, cfg.hasAlternate)),
					"LookupExchange")
			}
			return nil
		},
		func() (*Exchange, error) {
			// An alternate declared later is checked when it is used.
			if d, ok := b.names.get(cfg.alternate); ok && cfg.hasAlternate {
				if _, ok := d.(*Exchange); !ok {
					return nil, invalidf("exchange %q: alternate %q is %s, not an exchange", name, cfg.alternate, article(d.kind()))
				}
			}
			x := &Exchange{b: b, name: name, xkind: kind, cfg: cfg}
			var t *table
			x.routes, t = newRoutes(kind)
			x.table.Store(t)
			return x, nil
		})
}

func (e *Exchange) kind() string { return "exchange" }

// Name returns the name the exchange was declared with.
func (e *Exchange) Name() string { return e.name }

// Kind returns the kind the exchange was declared with.
func (e *Exchange) Kind() ExchangeKind { return e.xkind }

// Bind routes the messages that match key (and, on a headers exchange, the
// [MatchAll] or [MatchAny] option) to the queue, topic or exchange called
// dest. What key means depends on the exchange's [ExchangeKind]: an exact
// key, a topic pattern, or, on fanout and headers exchanges, nothing but the
// binding's name, so that dest can be bound twice with different headers.
//
// A binding is identified by (dest, key): binding it again with the same
// options does nothing and returns nil; with other headers it returns an
// error wrapping ErrExists, and so it does whenever the binding or the new
// call has a [WithTransform]: functions cannot be compared, so herald does
// not guess whether two are the same (Unbind first to bind it again). An
// exchange may be bound to another exchange, cycles included (a publish
// visits each exchange once), but not to itself.
//
// Bind returns an error wrapping ErrNotFound if dest is not declared;
// ErrInvalid for a bad name, a malformed topic pattern (the error names the
// offending word and its position), or a headers option on an exchange of
// another kind; and ErrClosed after Close or once Shutdown has begun.
//
// Bind does not wait for publishers, nor they for it, and takes about the
// same time however many bindings the exchange has: it changes the routing
// tables one entry at a time.
func (e *Exchange) Bind(dest, key string, opts ...BindOption) error {
	if e.b.closed.Load() || e.b.draining.Load() {
		return ErrClosed
	}
	if err := validateName(dest); err != nil {
		return fmt.Errorf("exchange %q: bind: %w", e.name, err)
	}
	var cfg bindConfig
	for _, o := range opts {
		if o == nil {
			return invalidf("exchange %q: bind %q: nil option", e.name, dest)
		}
		o.applyBind(&cfg)
	}
	if cfg.observer && !e.observing {
		return e.bindObserver(dest, key, opts)
	}
	nb := &binding{dest: dest, key: key}
	switch e.xkind {
	case TopicExchange:
		if err := match.ValidatePattern(key); err != nil {
			return because(ErrInvalid, err, "exchange %q: bind %q", e.name, dest)
		}
	case HeadersExchange:
		for k := range cfg.headers {
			if strings.HasPrefix(k, "x-") {
				// RabbitMQ ignores such binding arguments, which here would
				// be a header silently not matched.
				return invalidf("exchange %q: bind %q: header %q: names starting with \"x-\" are reserved and never matched",
					e.name, dest, k)
			}
		}
		nb.headers, nb.any = maps.Clone(cfg.headers), cfg.any
	}
	if cfg.set && e.xkind != HeadersExchange {
		return invalidf("exchange %q: bind %q: MatchAll and MatchAny are for headers exchanges, not %v", e.name, dest, e.xkind)
	}
	if dest == e.name {
		return invalidf("exchange %q: bound to itself, which could never deliver", e.name)
	}
	d, err := e.b.lookup(dest)
	if err != nil {
		return fmt.Errorf("exchange %q: bind: %w", e.name, err)
	}
	if _, ok := d.(*Exchange); ok && cfg.transform != nil {
		return invalidf("exchange %q: bind %q: a transform applies on a binding to a queue or topic, not to an exchange", e.name, dest)
	}
	nb.transform = cfg.transform

	if !e.observing && e.observedBy(dest, key) {
		return existsObserver(e.name, dest, key, "an observer")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.routes.bindings[bindingKey{dest, key}]; ok {
		switch {
		case nb.transform != nil || old.transform != nil:
			return fmt.Errorf("%w: exchange %q: %q is bound with key %q and a transform, which cannot be compared: "+
				"Unbind it first to bind it again", ErrExists, e.name, dest, key)
		case old.any != nb.any || !maps.Equal(old.headers, nb.headers):
			return fmt.Errorf("%w: exchange %q: %q is bound with key %q and other headers", ErrExists, e.name, dest, key)
		}
		return nil
	}
	t, err := e.routes.addLocked(e.table.Load(), nb, d)
	if err != nil {
		return because(ErrInvalid, err, "exchange %q: bind %q", e.name, dest)
	}
	e.table.Store(t)
	return nil
}

// Unbind removes the binding of dest with key. It returns an error wrapping
// ErrNotFound if there is no such binding, ErrInvalid for a bad name or
// pattern, and ErrClosed after Close or once Shutdown has begun. Publishes
// already routing may still deliver through the binding; later ones do
// not.
func (e *Exchange) Unbind(dest, key string) error {
	if e.b.closed.Load() || e.b.draining.Load() {
		return ErrClosed
	}
	if err := validateName(dest); err != nil {
		return fmt.Errorf("exchange %q: unbind: %w", e.name, err)
	}
	if e.xkind == TopicExchange {
		if err := match.ValidatePattern(key); err != nil {
			return because(ErrInvalid, err, "exchange %q: unbind %q", e.name, dest)
		}
	}
	if ok, err := e.unbindObserver(dest, key); ok {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ob, ok := e.routes.bindings[bindingKey{dest, key}]
	if !ok {
		return fmt.Errorf("%w: exchange %q has no binding of %q with key %q", ErrNotFound, e.name, dest, key)
	}
	e.table.Store(e.routes.removeLocked(e.table.Load(), ob))
	return nil
}

// Publish routes m to every destination whose binding matches it,
// assigning m.ID and m.Time when empty. All destinations share m; each gets
// it once, however many bindings and exchanges lead to it.
//
// Destinations get the message one after another, in a fixed order: the
// order in which they were first bound to the exchange (a destination whose
// bindings were all removed counts from when it was bound again), a bound
// exchange's own destinations taking its place in that order. A queue that is full with
// OverflowBlock makes Publish wait for room, until ctx ends; from then on no
// destination waits, and each of the remaining ones takes the message if it
// has room and refuses it with ctx.Err() if not.
//
// When some destinations refuse the message (ErrFull from an
// OverflowReject queue, ctx.Err(), ErrClosed if the broker closes
// meanwhile), the others still have it, and Publish returns a
// [*RouteError] naming those that refused, which wraps each cause for
// errors.Is. When the message matches no binding and no
// alternate exchange takes it, Publish returns an error wrapping
// ErrUnroutable (and ErrNotFound when the alternate exchange is not
// declared). It returns ErrClosed after Close, and once Shutdown has begun
// unless called with a handler's context, and ErrInvalid for a nil message
// or context.
func (e *Exchange) Publish(ctx context.Context, m *Message) error {
	if err := e.b.checkPublish(ctx, m); err != nil {
		return err
	}
	return e.b.publishTo(ctx, e, m)
}

// alternateExchange returns e's alternate exchange, nil if it has none, or
// why it cannot be used. It is looked up now so that it may be declared
// after e.
func (e *Exchange) alternateExchange() (*Exchange, error) {
	if !e.cfg.hasAlternate {
		return nil, nil
	}
	d, err := e.b.lookup(e.cfg.alternate)
	if err != nil {
		return nil, fmt.Errorf("alternate exchange of %q: %w", e.name, err)
	}
	ax, ok := d.(*Exchange)
	if !ok {
		return nil, invalidf("alternate exchange of %q: %q is a %s", e.name, e.cfg.alternate, d.kind())
	}
	return ax, nil
}
