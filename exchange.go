package herald

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
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

// put routes a stamped message; internal is passed on to every destination.
func (e *Exchange) put(ctx context.Context, m *Message, internal bool) error {
	t := e.table.Load()
	var buf [8]*target
	ts := t.match(m, buf[:0])
	if len(ts) > 0 && !t.reachesExchange(ts) {
		// The usual case: the targets are distinct queues and topics.
		if e.watch.Load() != nil {
			e.notifyObservers(ctx, m, internal)
		}
		return e.deliver(ctx, m, internal, ts)
	}
	// ts may live in buf, which must not leak into route's bookkeeping, or
	// buf would be on the heap for every publish.
	var outBuf [16]*target
	var xsBuf [8]*Exchange
	out, xs, altErr := e.route(m, t, outBuf[:0], xsBuf[:0])
	if len(out) == 0 {
		return e.unroutable(m, altErr)
	}
	for _, x := range xs {
		x.notifyObservers(ctx, m, internal)
	}
	return e.deliver(ctx, m, internal, out)
}

// deliver puts m into each of ts in turn, and reports those that refused.
func (e *Exchange) deliver(ctx context.Context, m *Message, internal bool, ts []*target) error {
	var failed []DestError
	for _, t := range ts {
		msg := m
		if fn := t.transformFn(); fn != nil {
			out, err := e.b.transform(fn, m)
			if err != nil {
				failed = append(failed, DestError{Dest: t.name, Err: err})
				continue
			}
			msg = out
		}
		if err := t.d.put(ctx, msg, internal); err != nil {
			failed = append(failed, DestError{Dest: t.name, Err: err})
		}
	}
	if failed == nil {
		return nil
	}
	return &RouteError{Exchange: e.name, Delivered: len(ts) - len(failed), Failed: failed}
}

func (e *Exchange) unroutable(m *Message, altErr error) error {
	var what string
	switch e.xkind {
	case FanoutExchange:
		what = "the message"
	case HeadersExchange:
		what = fmt.Sprintf("headers %v", map[string]string(m.Headers))
	default:
		what = fmt.Sprintf("key %q", m.Key)
	}
	if altErr != nil {
		return because(ErrUnroutable, altErr, "exchange %q routed %s to no queue or topic", e.name, what)
	}
	return fmt.Errorf("%w: exchange %q routed %s to no queue or topic", ErrUnroutable, e.name, what)
}

// route walks the graph of exchanges from e, whose table is t, as
// RabbitMQ does: each exchange is visited once, and one whose bindings match
// nothing hands the message to its alternate exchange. It appends to out
// the queues and topics reached, each once, depth first in binding order,
// and returns the first reason an alternate exchange was unusable, and,
// appended to xs, the exchanges visited.
//
// It is one loop over local slices, rather than recursion over a shared
// struct, so that its buffers stay on the stack.
func (e *Exchange) route(m *Message, t *table, out []*target, xs []*Exchange) ([]*target, []*Exchange, error) {
	var (
		stackBuf [8][]*target           // per exchange being visited: targets left
		xmap     map[*Exchange]struct{} // visited, once xs is long
		dmap     map[destination]struct{}
		altErr   error
	)
	stack := stackBuf[:0]
	x, ts := e, t.match(m, nil)
	for x != nil {
		xs, xmap = addSmall(xs, xmap, x)
		if len(ts) > 0 {
			stack = append(stack, ts)
		} else if ax, err := x.alternateExchange(); err != nil {
			altErr = cmp.Or(altErr, err)
		} else if ax != nil && !hasSmall(xs, xmap, ax) {
			x, ts = ax, ax.table.Load().match(m, nil)
			continue
		}
		x = nil
		for x == nil && len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(*top) == 0 {
				stack = stack[:len(stack)-1]
				continue
			}
			t := (*top)[0]
			*top = (*top)[1:]
			switch {
			case t.x == nil:
				if !hasDest(out, dmap, t.d) {
					out = append(out, t)
					dmap = addDest(out, dmap, t.d)
				}
			case !hasSmall(xs, xmap, t.x):
				x = t.x
				ts = x.table.Load().match(m, nil)
			}
		}
	}
	return out, xs, altErr
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

// Sets for route: scanning a short slice beats hashing for the few
// exchanges and destinations a message usually meets, and can use a stack
// buffer; past smallMax entries a map takes over.
const smallMax = 32

func hasSmall[T comparable](list []T, m map[T]struct{}, v T) bool {
	if m != nil {
		_, ok := m[v]
		return ok
	}
	return slices.Contains(list, v)
}

// addSmall adds v, known to be absent.
func addSmall[T comparable](list []T, m map[T]struct{}, v T) ([]T, map[T]struct{}) {
	list = append(list, v)
	return list, indexSmall(list, m, v, func(x T) T { return x })
}

func hasDest(out []*target, m map[destination]struct{}, d destination) bool {
	if m != nil {
		_, ok := m[d]
		return ok
	}
	for _, t := range out {
		if t.d == d {
			return true
		}
	}
	return false
}

// addDest records d, just appended to out.
func addDest(out []*target, m map[destination]struct{}, d destination) map[destination]struct{} {
	return indexSmall(out, m, d, func(t *target) destination { return t.d })
}

// indexSmall adds v, just appended to list, to m, making m from list when
// list has grown past smallMax.
func indexSmall[E any, T comparable](list []E, m map[T]struct{}, v T, key func(E) T) map[T]struct{} {
	switch {
	case m != nil:
		m[v] = struct{}{}
	case len(list) > smallMax:
		m = make(map[T]struct{}, 2*len(list))
		for _, x := range list {
			m[key(x)] = struct{}{}
		}
	}
	return m
}

// RouteError is returned by an exchange's Publish when some of the
// destinations it routed a message to refused it; all the others have the
// message. It wraps each refusal's cause, so errors.Is(err, ErrFull) tells
// that a queue was full.
type RouteError struct {
	Exchange  string      // the exchange published to
	Delivered int         // destinations that accepted the message
	Failed    []DestError // destinations that refused it, in delivery order
}

// DestError is one destination's refusal of a routed message.
type DestError struct {
	Dest string // the queue's or topic's name
	Err  error  // why it refused
}

// Error says which destinations refused the message and why.
func (e *RouteError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "herald: exchange %q: %d of %d destinations refused the message",
		e.Exchange, len(e.Failed), e.Delivered+len(e.Failed))
	for i, f := range e.Failed {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&sb, "%s%q: %s", sep, f.Dest, errText(f.Err))
	}
	return sb.String()
}

// Unwrap returns the causes of the refusals, for errors.Is and errors.As.
func (e *RouteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
