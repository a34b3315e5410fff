package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// kvCodec encodes typedOrder values as "ID=1 Total=2.5".
type kvCodec struct{}

func (kvCodec) Marshal(v any) ([]byte, error) {
	o, ok := v.(typedOrder)
	if !ok {
		return nil, fmt.Errorf("kv: cannot encode %T", v)
	}
	return fmt.Appendf(nil, "ID=%d Total=%g", o.ID, o.Total), nil
}

func (kvCodec) Unmarshal(data []byte, v any) error {
	o, ok := v.(*typedOrder)
	if !ok {
		return fmt.Errorf("kv: cannot decode into %T", v)
	}
	if _, err := fmt.Sscanf(string(data), "ID=%d Total=%g", &o.ID, &o.Total); err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	return nil
}

func (kvCodec) ContentType() string { return "text/x-kv" }

// A producer that publishes JSON and a consumer with a typed handler on
// its own struct work together through a queue.
func TestCodecJSONProducerTypedConsumer(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders")
	var got []typedOrder
	startConsumer(t, q, Typed(func(_ context.Context, o typedOrder) error {
		got = append(got, o)
		return nil
	}))
	for i := 1; i <= 2; i++ {
		m, err := Encode(JSONCodec(), typedOrder{ID: i, Total: 1.25})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(context.Background(), "orders", m); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, b)
	if len(got) != 2 || got[0] != (typedOrder{1, 1.25}) || got[1] != (typedOrder{2, 1.25}) {
		t.Fatalf("handled %+v, want orders 1 and 2 of 1.25", got)
	}
	wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Acked: 2, Consumers: 1})
}

func TestCodecBadJSONDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders", WithDeadLetter("orders.dead"))
	dead := mustQueue(t, b, "orders.dead")
	startConsumer(t, q, Typed(func(context.Context, typedOrder) error {
		t.Error("handler called with a body that does not decode")
		return nil
	}))
	body := []byte(`{"ID":"seven"}`)
	var o typedOrder
	jsonErr := json.Unmarshal(body, &o)
	if jsonErr == nil {
		t.Fatal("test body decodes")
	}
	publishMsg(t, q, &Message{Headers: Headers{HeaderContentType: "application/json"}, Body: body})
	d := receiveOrFail(t, dead)
	want := "permanent: herald: body of the wrong type: got []byte, handler wants herald.typedOrder: decoding application/json: " + jsonErr.Error()
	if got := d.Headers[HeaderDeathError]; got != want {
		t.Fatalf("dead letter %s =\n%q\nwant\n%q", HeaderDeathError, got, want)
	}
	if d.Headers[HeaderDeathReason] != ReasonRejected || d.Headers[HeaderContentType] != "application/json" {
		t.Fatalf("dead letter headers %v", d.Headers)
	}
	settleOrFail(t, d.Ack)
	waitIdle(t, b)
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Rejected: 1, DeadLettered: 1, Consumers: 1})
}

func TestEncode(t *testing.T) {
	in := typedOrder{ID: 7, Total: 3.5}
	m, err := Encode(JSONCodec(), in)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := m.Body.([]byte)
	if !ok || string(body) != `{"ID":7,"Total":3.5}` || len(m.Headers) != 1 || m.Headers[HeaderContentType] != "application/json" {
		t.Fatalf("Encode = body %#v headers %v", m.Body, m.Headers)
	}
	if m.ID != "" || !m.Time.IsZero() {
		t.Fatalf("Encode set ID %q, Time %v: publish assigns them", m.ID, m.Time)
	}
	out, err := BodyAs[typedOrder](m)
	if err != nil || out != in {
		t.Fatalf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if m2, err := Encode(nil, in); err != nil || string(m2.Body.([]byte)) != string(body) || m2.Headers[HeaderContentType] != "application/json" {
		t.Fatalf("Encode(nil) = %v, %v; want JSON", m2, err)
	}
}

func TestEncodeError(t *testing.T) {
	m, err := Encode(JSONCodec(), make(chan int))
	var ute *json.UnsupportedTypeError
	if m != nil || !errors.As(err, &ute) || err.Error() != "herald: encoding chan int as application/json: json: unsupported type: chan int" {
		t.Fatalf("Encode(chan) = %v, %v", m, err)
	}
	if _, err := Encode(kvCodec{}, "x"); err == nil || err.Error() != "herald: encoding string as text/x-kv: kv: cannot encode string" {
		t.Fatalf("Encode(kv, string) = %v", err)
	}
}

func TestCodecCustom(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders", WithDeadLetter("orders.dead"))
	dead := mustQueue(t, b, "orders.dead")
	var got []typedOrder
	startConsumer(t, q, Typed(func(_ context.Context, o typedOrder) error {
		got = append(got, o)
		return nil
	}, WithCodec(kvCodec{})))
	m, err := Encode(kvCodec{}, typedOrder{ID: 4, Total: 0.5})
	if err != nil || string(m.Body.([]byte)) != "ID=4 Total=0.5" || m.Headers[HeaderContentType] != "text/x-kv" {
		t.Fatalf("Encode(kv) = %v, %v", m, err)
	}
	publishMsg(t, q, m)
	// JSON to a consumer of another format: the error names both.
	j, _ := Encode(JSONCodec(), typedOrder{ID: 5})
	publishMsg(t, q, j)
	d := receiveOrFail(t, dead)
	settleOrFail(t, d.Ack)
	waitIdle(t, b)
	if len(got) != 1 || got[0] != (typedOrder{4, 0.5}) {
		t.Fatalf("handled %+v, want order 4 of 0.5", got)
	}
	want := `permanent: herald: body of the wrong type: got []byte, handler wants herald.typedOrder: decoding text/x-kv (content-type "application/json"): kv: input does not match format`
	if e := d.Headers[HeaderDeathError]; e != want {
		t.Fatalf("dead letter error\n%q\nwant\n%q", e, want)
	}
}

func TestWithCodecNil(t *testing.T) {
	var got typedOrder
	h := Typed(func(_ context.Context, o typedOrder) error { got = o; return nil }, WithCodec(kvCodec{}), WithCodec(nil), nil)
	if err := callTyped(h, []byte(`{"ID":3}`)); err != nil || got.ID != 3 {
		t.Fatalf("WithCodec(nil) then a nil option: got %+v, %v; want JSON decoding", got, err)
	}
	if JSONCodec().ContentType() != "application/json" {
		t.Fatalf("JSON content type %q", JSONCodec().ContentType())
	}
}
