package heraldotel_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/heraldmq/herald"
	heraldotel "github.com/heraldmq/herald/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// consume runs h on src until the test ends.
func consume(t *testing.T, src interface {
	Consume(context.Context, herald.Handler, ...herald.ConsumeOption) error
}, h herald.Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Consume(ctx, h)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// TestTraceExchangeQueueTopic follows one message through three hops —
// an exchange to a queue, whose handler publishes to a topic read by a
// group — and checks that they make one trace of parent and child spans
// with the conventions' names, kinds and attributes.
func TestTraceExchangeQueueTopic(t *testing.T) {
	r := newRig(t)
	b := r.b
	x, _ := b.Exchange("orders", herald.TopicExchange)
	q, _ := b.Queue("billing")
	invoices, _ := b.Topic("invoices")
	if err := x.Bind("billing", "order.*"); err != nil {
		t.Fatal(err)
	}
	mailer, _ := invoices.Subscribe(herald.WithGroup("mailer"))
	consume(t, q, func(ctx context.Context, d *herald.Delivery) error {
		return b.Publish(ctx, "invoices", &herald.Message{Body: "invoice", CorrelationID: "order-7"})
	})
	consume(t, mailer, func(ctx context.Context, d *herald.Delivery) error { return nil })

	ctx, root := r.tp.Tracer("test").Start(context.Background(), "checkout")
	m := &herald.Message{Key: "order.created", Body: "order"}
	mustPublish(t, ctx, b, "orders", m)
	root.End()
	r.idle(t)

	rootSpan := r.span(t, "checkout")
	send := r.span(t, "send orders")
	process := r.span(t, "process billing")
	send2 := r.span(t, "send invoices")
	process2 := r.span(t, "process invoices")
	wantChild(t, rootSpan, send)
	wantChild(t, send, process)
	wantChild(t, process, send2)
	wantChild(t, send2, process2)

	wantAttrs(t, send, trace.SpanKindProducer, map[string]string{
		"messaging.system": "herald", "messaging.destination.name": "orders",
		"messaging.operation.type": "send", "messaging.operation.name": "send",
		"messaging.message.id": m.ID, "herald.destination.kind": "exchange", "herald.message.key": "order.created",
		"messaging.message.conversation_id": "", "messaging.consumer.group.name": "",
	})
	wantAttrs(t, process, trace.SpanKindConsumer, map[string]string{
		"messaging.system": "herald", "messaging.destination.name": "billing",
		"messaging.operation.type": "process", "messaging.operation.name": "process",
		"messaging.message.id": m.ID, "herald.delivery.attempt": "1", "error.type": "",
	})
	wantAttrs(t, send2, trace.SpanKindProducer, map[string]string{
		"messaging.destination.name": "invoices", "herald.destination.kind": "topic",
		"messaging.message.conversation_id": "order-7",
	})
	wantAttrs(t, process2, trace.SpanKindConsumer, map[string]string{
		"messaging.destination.name": "invoices", "messaging.consumer.group.name": "mailer",
		"messaging.message.conversation_id": "order-7",
	})
	if m.Headers != nil {
		t.Errorf("the publisher's message got headers %v", m.Headers)
	}
}

// TestTraceRequestReply checks that a request, its handling and its reply
// are one trace, the reply's destination marked temporary.
func TestTraceRequestReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		b := r.b
		q, _ := b.Queue("rpc")
		consume(t, q, func(ctx context.Context, d *herald.Delivery) error {
			return d.Reply(ctx, herald.NewMessage("pong"))
		})
		synctest.Wait() // the consumer is parked: the request has a responder

		ctx, root := r.tp.Tracer("test").Start(context.Background(), "call")
		reply, err := b.Request(ctx, "rpc", herald.NewMessage("ping"))
		if err != nil {
			t.Fatal(err)
		}
		root.End()
		r.idle(t)

		call, send, process, sendReply := r.span(t, "call"), r.span(t, "send rpc"), r.span(t, "process rpc"), r.span(t, "send")
		wantChild(t, call, send)
		wantChild(t, send, process)
		wantChild(t, process, sendReply)
		conv := map[string]string{"messaging.message.conversation_id": reply.CorrelationID}
		wantAttrs(t, send, trace.SpanKindProducer, conv)
		wantAttrs(t, process, trace.SpanKindConsumer, conv)
		wantAttrs(t, sendReply, trace.SpanKindProducer, map[string]string{
			"messaging.message.conversation_id": reply.CorrelationID,
			"messaging.destination.temporary":   "true", "messaging.destination.name": "",
			"herald.destination.kind": "reply",
		})
		// The requester can continue from the reply: it carries the reply's context.
		sc := trace.SpanContextFromContext(r.tel.Extract(context.Background(), &herald.Delivery{Message: reply}))
		if sc.SpanID() != sendReply.SpanContext.SpanID() {
			t.Error("the reply does not carry its send span's context")
		}
	})
}

// TestTraceFailures checks error.type and status on failed handlers (an
// error, a permanent error, a panic) and on a failed publish.
func TestTraceFailures(t *testing.T) {
	r := newRig(t)
	b := r.b
	q, _ := b.Queue("jobs", herald.WithMaxDeliveries(1))
	full, _ := b.Queue("full", herald.WithCapacity(1), herald.WithOverflow(herald.OverflowReject))
	consume(t, q, func(ctx context.Context, d *herald.Delivery) error {
		switch d.Body {
		case "error":
			return errors.New("boom")
		case "permanent":
			return herald.Permanent(herald.ErrBodyType)
		case "panic":
			panic("oops")
		}
		return nil
	})
	ctx := context.Background()
	for _, body := range []string{"error", "permanent", "panic", "fine"} {
		mustPublish(t, ctx, b, "jobs", herald.NewMessage(body))
	}
	mustPublish(t, ctx, b, "full", herald.NewMessage(1))
	if err := full.Publish(ctx, herald.NewMessage(2)); !errors.Is(err, herald.ErrFull) {
		t.Fatalf("publish to a full queue = %v", err)
	}
	if d, err := full.Receive(ctx); err != nil || d.Ack() != nil {
		t.Fatal(err)
	}
	r.idle(t)

	got := map[string]string{}
	for _, s := range r.spans.GetSpans() {
		if s.Name != "process jobs" && s.Name != "send full" {
			continue
		}
		et := ""
		for _, a := range s.Attributes {
			if a.Key == "error.type" {
				et = a.Value.AsString()
			}
		}
		if (et != "") != (s.Status.Code == codes.Error) {
			t.Errorf("span %q: error.type %q, status %v", s.Name, et, s.Status)
		}
		got[s.Name+" "+et] = s.Status.Description
	}
	want := map[string]string{
		"process jobs *errors.errorString": "boom",
		"process jobs body_type":           "permanent: herald: body of the wrong type",
		"process jobs panic":               "panic: oops",
		"process jobs ":                    "",
		"send full ":                       "",
		"send full full":                   `herald: destination full: queue "full" holds 1 messages`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: status %q, want %q (all: %q)", k, got[k], v, got)
		}
	}
}

// TestReceiveSpan checks that a delivery taken with Receive gets a CLIENT
// span linked to its producer's.
func TestReceiveSpan(t *testing.T) {
	r := newRig(t)
	q, _ := r.b.Queue("pull")
	ctx := context.Background()
	mustPublish(t, ctx, r.b, "pull", herald.NewMessage(1))
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack()
	send, recv := r.span(t, "send pull"), r.span(t, "receive pull")
	wantAttrs(t, recv, trace.SpanKindClient, map[string]string{
		"messaging.operation.type": "receive", "messaging.operation.name": "receive", "messaging.message.id": d.ID,
	})
	if len(recv.Links) != 1 || recv.Links[0].SpanContext.SpanID() != send.SpanContext.SpanID() {
		t.Errorf("receive span links %+v, want the send span", recv.Links)
	}
}

func TestHeaderCarrier(t *testing.T) {
	var nilCarrier heraldotel.HeaderCarrier
	if nilCarrier.Get("x") != "" || len(nilCarrier.Keys()) != 0 {
		t.Error("a nil carrier is not empty")
	}
	c := heraldotel.HeaderCarrier(herald.Headers{"a": "1"})
	c.Set("b", "2")
	if c.Get("b") != "2" || len(c.Keys()) != 2 {
		t.Errorf("carrier %v", c)
	}
}
