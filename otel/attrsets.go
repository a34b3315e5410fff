package heraldotel

import (
	"sync"

	"github.com/heraldmq/herald"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// The metric attribute sets a message needs, by operation.
type metricOp uint8

const (
	opSend         metricOp = iota // send, for messaging.client.sent.messages
	opSendDuration                 // send with its operation type, for the operation duration
	opProcess
	opReceive
)

// attrSets caches the attribute set of each (place, operation), so that
// recording a metric does not build and sort one per message.
type attrSets struct{ m sync.Map }

type setKey struct {
	p  herald.Place
	op metricOp
}

func (a *attrSets) get(p herald.Place, op metricOp) attribute.Set {
	if p.Kind == "reply" {
		p.Name = "" // each reply destination is new: its metrics carry no name
	}
	k := setKey{p, op}
	if s, ok := a.m.Load(k); ok {
		return s.(attribute.Set)
	}
	attrs := placeAttrs(p, make([]attribute.KeyValue, 0, 6))
	switch op {
	case opSend:
		attrs = append(attrs, semconv.MessagingOperationName("send"))
	case opSendDuration:
		attrs = append(attrs, semconv.MessagingOperationName("send"), semconv.MessagingOperationTypeSend)
	case opProcess:
		attrs = append(attrs, semconv.MessagingOperationName("process"))
	case opReceive:
		attrs = append(attrs, semconv.MessagingOperationName("receive"))
	}
	s, _ := a.m.LoadOrStore(k, attribute.NewSet(attrs...))
	return s.(attribute.Set)
}

// withAttr returns s with kv added, for a failure's error.type.
func withAttr(s attribute.Set, kv attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(s.ToSlice(), kv)...)
}
