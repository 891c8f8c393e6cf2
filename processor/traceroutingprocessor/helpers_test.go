package traceroutingprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tracebound/tracebound/internal/route"
	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadatatest"
)

// harness is a trace_routing processor in front of a sink, with a real
// metric reader.
type harness struct {
	tel  *componenttest.Telemetry
	sink *consumertest.TracesSink
	proc processor.Traces
}

func newHarness(t testing.TB, configure func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if configure != nil {
		configure(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{tel: componenttest.NewTelemetry(), sink: new(consumertest.TracesSink)}
	var err error
	h.proc, err = NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(h.tel), cfg, h.sink)
	require.NoError(t, err)
	require.NoError(t, h.proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, h.proc.Shutdown(context.Background()))
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

// consume sends td and checks the sender never sees an error.
func (h *harness) consume(t testing.TB, ctx context.Context, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, h.proc.ConsumeTraces(ctx, td))
}

// counter sums the data points of a counter whose attribute key equals value;
// 0 when the counter was never recorded.
func (h *harness) counter(t testing.TB, name, key, value string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
			total += dp.Value
		}
	}
	return total
}

func (h *harness) routed(t testing.TB, destination string) int64 {
	return h.counter(t, "otelcol_processor_trace_routing_spans_routed", "destination", destination)
}

func (h *harness) spansDropped(t testing.TB, reason string) int64 {
	return h.counter(t, "otelcol_processor_trace_routing_spans_dropped", "reason", reason)
}

func (h *harness) resourcesDropped(t testing.TB, reason string) int64 {
	return h.counter(t, "otelcol_processor_trace_routing_resources_dropped", "reason", reason)
}

func (h *harness) resourcesDefaulted(t testing.TB, reason string) int64 {
	return h.counter(t, "otelcol_processor_trace_routing_resources_defaulted", "reason", reason)
}

// withHeader returns a context whose client metadata holds key: values, as
// confighttp stores request headers.
func withHeader(key string, values ...string) context.Context {
	return client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{key: values}),
	})
}

// res describes one resource of a test request.
type res struct {
	service string
	config  any // trace.config attribute: nil for none, else a string or other value
	spans   int
	attrs   map[string]any
}

func makeTraces(t testing.TB, resources ...res) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	for _, r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", r.service)
		if r.config != nil {
			require.NoError(t, attrs.PutEmpty(attrTraceConfig).FromRaw(r.config))
		}
		for k, v := range r.attrs {
			require.NoError(t, attrs.PutEmpty(k).FromRaw(v))
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("test")
		for i := range r.spans {
			s := ss.Spans().AppendEmpty()
			s.SetName(r.service)
			s.SetTraceID(pcommon.TraceID{1, byte(i)})
			s.SetSpanID(pcommon.SpanID{2, byte(i)})
		}
	}
	return td
}

// Stamps of the default fields, as tests read them.
const (
	attrAccount   = attrFieldPrefix + "account"
	attrZone      = attrFieldPrefix + "zone"
	attrWorkspace = attrFieldPrefix + "workspace"
)

// copyOf describes one resource as it should arrive downstream.
type copyOf struct {
	service, route, account, zone, workspace string
	spans                                    int
}

// received lists what reached the sink, one entry per resource, in order.
func (h *harness) received(t testing.TB) []copyOf {
	t.Helper()
	var out []copyOf
	for _, td := range h.sink.AllTraces() {
		for i := range td.ResourceSpans().Len() {
			rs := td.ResourceSpans().At(i)
			attrs := rs.Resource().Attributes()
			_, hasRaw := attrs.Get(attrTraceConfig)
			require.False(t, hasRaw, "trace.config must be removed")
			str := func(k string) string {
				if v, ok := attrs.Get(k); ok {
					return v.Str()
				}
				return ""
			}
			out = append(out, copyOf{
				service:   str("service.name"),
				route:     str(route.Attribute),
				account:   str(attrAccount),
				zone:      str(attrZone),
				workspace: str(attrWorkspace),
				spans:     int(spanCount(rs)),
			})
		}
	}
	return out
}

// oneSpanResources is a request as cloudflare/foundations sends it: every
// span in a ResourceSpans of its own carrying only service.name and
// service.version; edit, when not nil, changes resource i.
func oneSpanResources(n int, edit func(i int, rs ptrace.ResourceSpans)) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range n {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "worker")
		rs.Resource().Attributes().PutStr("service.version", "1.2.3")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("foundations")
		s := ss.Spans().AppendEmpty()
		s.SetName("span")
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if edit != nil {
			edit(i, rs)
		}
	}
	return td
}
