package heraldotel_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/internal/leak"
	heraldotel "github.com/heraldmq/herald/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// rig is a broker instrumented with in-memory span and metric readers.
type rig struct {
	tel    *heraldotel.Instrumentation
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	b      *herald.Broker
}

// newRig returns an instrumented broker that is closed when the test ends,
// after which the test fails if a goroutine of herald is left running.
func newRig(t *testing.T, opts ...herald.Option) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	tel, err := heraldotel.New(heraldotel.WithTracerProvider(r.tp), heraldotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	r.b = herald.New(append(tel.Options(), opts...)...)
	t.Cleanup(func() {
		r.b.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return r
}

// idle waits until every message published has been handled.
func (r *rig) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// span returns the one finished span called name.
func (r *rig) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	var names []string
	for _, s := range r.spans.GetSpans() {
		names = append(names, s.Name)
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans called %q among %q", len(found), name, names)
	}
	return found[0]
}

// wantChild fails the test unless child's parent is parent, in one trace.
func wantChild(t *testing.T, parent, child tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %q is not the child of %q", child.Name, parent.Name)
	}
}

// wantAttrs fails the test unless s has every attribute in want, with
// "" meaning the attribute must be absent.
func wantAttrs(t *testing.T, s tracetest.SpanStub, kind trace.SpanKind, want map[string]string) {
	t.Helper()
	if s.SpanKind != kind {
		t.Errorf("span %q is %v, want %v", s.Name, s.SpanKind, kind)
	}
	got := map[string]string{}
	for _, a := range s.Attributes {
		got[string(a.Key)] = a.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: %s = %q, want %q (all: %v)", s.Name, k, got[k], v, got)
		}
	}
}

// metrics collects every metric, by name.
func (r *rig) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// points renders a metric's data points as "attrs = value" lines, sorted,
// leaving out messaging.system, which every point has.
func points(t *testing.T, m metricdata.Metrics) []string {
	t.Helper()
	attrs := func(s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			if a.Key == "messaging.system" {
				if a.Value.AsString() != "herald" {
					t.Errorf("%s: messaging.system %q", m.Name, a.Value.AsString())
				}
				continue
			}
			kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
		}
		return "{" + strings.Join(kv, ",") + "}"
	}
	var out []string
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, fmt.Sprintf("%s = %d", attrs(p.Attributes), p.Value))
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, fmt.Sprintf("%s = %d", attrs(p.Attributes), p.Value))
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, fmt.Sprintf("%s count %d", attrs(p.Attributes), p.Count))
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	sort.Strings(out)
	return out
}

func wantPoints(t *testing.T, ms map[string]metricdata.Metrics, name string, want ...string) {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Errorf("no metric %s", name)
		return
	}
	got := points(t, m)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", name, got, want)
	}
}

func mustPublish(t *testing.T, ctx context.Context, b *herald.Broker, name string, m *herald.Message) {
	t.Helper()
	if err := b.Publish(ctx, name, m); err != nil {
		t.Fatalf("Publish to %q: %v", name, err)
	}
}
