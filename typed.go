package herald

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// BodyTypeError says why a body could not be used as a typed handler's
// type. It wraps ErrBodyType and, when decoding failed, the codec's error,
// so errors.Is sees both. Its message names both types, as in
//
//	herald: body of the wrong type: got string, handler wants main.Order
type BodyTypeError struct {
	Got  string // the body's type; "<nil>", "nil *T", "no message" for none
	Want string // the handler's type
	Err  error  // for an encoded body, why decoding failed; nil otherwise
}

// Error names the body's type and the handler's.
func (e *BodyTypeError) Error() string {
	s := ErrBodyType.Error() + ": got " + e.Got + ", handler wants " + e.Want
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrBodyType, and the decoding error when there is one.
func (e *BodyTypeError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrBodyType}
	}
	return []error{ErrBodyType, e.Err}
}

// TypedOption configures how [Typed], [TypedDelivery] and [BodyAs] turn a
// body into the handler's type; see [WithCodec].
type TypedOption interface{ applyTyped(*typedConfig) }

type typedConfig struct {
	codec Codec
}

// Typed adapts h, a handler on the caller's own type T, into a [Handler],
// so that h never writes a type assertion. The body reaches h as a T by
// the first of these rules that applies:
//
//   - a body that is a T is passed as is: no copy, no reflection, no
//     allocation (the in-process, zero-copy case). An interface T takes
//     any body that implements it, so Typed[any] gets bytes undecoded;
//   - when T is neither a pointer nor an interface type, a non-nil *T body
//     is dereferenced: h gets a shallow copy of the value the producer
//     published by pointer. The reverse does not hold: a handler on *T
//     gets only *T bodies, the producer's own values, never a pointer to
//     a copy;
//   - a []byte or json.RawMessage body is decoded into a new T with the
//     codec given by [WithCodec], JSON by default (see [Encode] for the
//     producer's side). When T is []byte, a json.RawMessage body is passed
//     as its bytes. The HeaderContentType header is not checked: it is
//     named in the error when decoding fails.
//
// Any other body is rejected: h is not called and the adapter returns
// Permanent(err), err a *[BodyTypeError] wrapping [ErrBodyType] (and the
// codec's error), so the delivery is dead-lettered, not retried, with err
// in its HeaderDeathError header. That includes a nil body whatever T is,
// and, when T is a pointer type, a nil pointer (published, or decoded
// from JSON null), so a handler on *T never gets nil. The adapter never
// panics.
//
// Typed(nil) returns nil, which Consume rejects with ErrInvalid; a nil
// option is ignored (see [Option]). The result of h settles the delivery
// as a [Handler]'s does.
func Typed[T any](h func(ctx context.Context, v T) error, opts ...TypedOption) Handler {
	if h == nil {
		return nil
	}
	return TypedDelivery(func(ctx context.Context, v T, _ *Delivery) error { return h(ctx, v) }, opts...)
}

// TypedDelivery is [Typed] for a handler that also needs the delivery: its
// headers, attempt number and settle methods. The body is turned into a T,
// or the delivery rejected, by the rules of Typed.
func TypedDelivery[T any](h func(ctx context.Context, v T, d *Delivery) error, opts ...TypedOption) Handler {
	if h == nil {
		return nil
	}
	a := newTypedAdapter[T](opts)
	nilT := a.nilT
	return func(ctx context.Context, d *Delivery) error {
		if d != nil && d.Message != nil {
			if v, ok := d.Body.(T); ok && (nilT == nil || d.Body != nilT) {
				return h(ctx, v, d)
			}
		}
		v, err := a.convert(d)
		if err != nil {
			return Permanent(err)
		}
		return h(ctx, v, d)
	}
}

// BodyAs returns m's body as a T by the rules of [Typed], for code that
// receives deliveries itself ([Queue.Receive], [Subscription.All]). It
// returns the zero T and a *[BodyTypeError] (not wrapped in Permanent) for
// a body it cannot use, a nil m being such a body, and an error wrapping
// ErrInvalid for a nil option.
func BodyAs[T any](m *Message, opts ...TypedOption) (T, error) {
	if slices.Contains(opts, nil) {
		var zero T
		return zero, invalidf("BodyAs: nil option")
	}
	a := newTypedAdapter[T](opts)
	return a.message(m)
}

// typedAdapter holds what is worked out about T once, when the handler is
// made, so that the hot path is a type assertion and a comparison.
type typedAdapter[T any] struct {
	codec Codec
	want  reflect.Type
	// nilT is T's nil as an interface value when T is a pointer type, so
	// that a nil pointer body is told apart without reflection; else nil.
	nilT  any
	deref bool // a *T body is dereferenced: T is neither pointer nor interface
}

func newTypedAdapter[T any](opts []TypedOption) typedAdapter[T] {
	a := typedAdapter[T]{codec: typedCodec(opts), want: reflect.TypeFor[T]()}
	switch a.want.Kind() {
	case reflect.Pointer:
		var zero T
		a.nilT = any(zero)
	case reflect.Interface:
	default:
		a.deref = true
	}
	return a
}

func typedCodec(opts []TypedOption) Codec {
	if len(opts) == 0 {
		return jsonCodec{} // and BodyAs allocates nothing for a direct body
	}
	cfg := typedConfig{codec: jsonCodec{}}
	for _, o := range opts {
		if o != nil {
			o.applyTyped(&cfg)
		}
	}
	return cfg.codec
}

// convert is the slow path: the delivery's body is not a non-nil T.
func (a *typedAdapter[T]) convert(d *Delivery) (T, error) {
	if d == nil {
		var zero T
		return zero, a.mismatch("no delivery", nil)
	}
	return a.message(d.Message)
}

func (a *typedAdapter[T]) message(m *Message) (T, error) {
	var zero T
	if m == nil {
		return zero, a.mismatch("no message", nil)
	}
	body := m.Body
	if v, ok := body.(T); ok {
		if a.nilT != nil && body == a.nilT {
			return zero, a.mismatch("nil "+a.want.String(), nil)
		}
		return v, nil
	}
	if a.deref {
		if p, ok := body.(*T); ok {
			if p == nil {
				return zero, a.mismatch("nil *"+a.want.String(), nil)
			}
			return *p, nil
		}
	}
	switch b := body.(type) {
	case []byte:
		return a.decode(m, b)
	case json.RawMessage:
		return a.decode(m, b)
	}
	return zero, a.mismatch(typeName(reflect.TypeOf(body)), nil)
}

// decode turns an encoded body into a new T. It is apart from message so
// that only decoding moves a T to the heap.
func (a *typedAdapter[T]) decode(m *Message, data []byte) (T, error) {
	var v T
	if raw, ok := any(&v).(*[]byte); ok {
		*raw = data // only a json.RawMessage body gets here
		return v, nil
	}
	got := typeName(reflect.TypeOf(m.Body))
	if err := a.codec.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, a.mismatch(got, a.decodeError(m, err))
	}
	if a.nilT != nil && any(v) == a.nilT {
		return v, a.mismatch(got, fmt.Errorf("decoding %s: got a nil %s", a.codec.ContentType(), a.want))
	}
	return v, nil
}

func (a *typedAdapter[T]) decodeError(m *Message, err error) error {
	ct := a.codec.ContentType()
	if h, ok := m.Headers[HeaderContentType]; ok && h != ct {
		return fmt.Errorf("decoding %s (%s %q): %w", ct, HeaderContentType, h, err)
	}
	return fmt.Errorf("decoding %s: %w", ct, err)
}

func (a *typedAdapter[T]) mismatch(got string, err error) error {
	return &BodyTypeError{Got: got, Want: typeName(a.want), Err: err}
}

var bytesType = reflect.TypeFor[[]byte]()

// typeName names t as Go source would, "[]byte" rather than "[]uint8".
func typeName(t reflect.Type) string {
	switch t {
	case nil:
		return "<nil>"
	case bytesType:
		return "[]byte"
	}
	return t.String()
}
