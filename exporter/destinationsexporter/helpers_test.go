package destinationsexporter

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadatatest"
	"github.com/tracebound/tracebound/internal/route"
)

// backend is a real OTLP/HTTP traces endpoint that decodes every request
// and records what it accepted. hold, when set, runs before answering.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	status int
	hold   func(r *http.Request)
	// unavailable, when set and true, makes the backend answer 503 instead
	// of status (a flaky backend).
	unavailable func() bool

	mu        sync.Mutex
	spans     int
	requests  int
	refused   int // answered 503 because unavailable
	resources []pcommon.Map
}

func newBackend(t *testing.T, status int, hold func(r *http.Request)) *backend {
	b := &backend{t: t, status: status, hold: hold}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// Hold only once the body is read: the server notices a client that
	// gave up (and cancels r.Context()) only after that.
	if b.hold != nil {
		b.hold(r)
		if r.Context().Err() != nil {
			return // the client gave up: nothing was delivered
		}
	}
	if b.unavailable != nil && b.unavailable() {
		b.mu.Lock()
		b.refused++
		b.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if b.status != http.StatusOK {
		w.WriteHeader(b.status)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	td := req.Traces()
	b.mu.Lock()
	b.requests++
	b.spans += td.SpanCount()
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		attrs := pcommon.NewMap()
		td.ResourceSpans().At(i).Resource().Attributes().CopyTo(attrs)
		b.resources = append(b.resources, attrs)
	}
	b.mu.Unlock()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (b *backend) spanCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spans
}

func (b *backend) requestCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

// refusedCount is how many requests the backend answered 503 because it
// was unavailable.
func (b *backend) refusedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

func (b *backend) receivedResources() []pcommon.Map {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]pcommon.Map(nil), b.resources...)
}

// sleepFor makes a backend answer after d, or when the client gives up.
func sleepFor(d time.Duration) func(r *http.Request) {
	return func(r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
}

// holdUntil makes a backend answer once release is closed, or when the
// client gives up.
func holdUntil(release <-chan struct{}) func(r *http.Request) {
	return func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

// destinationConfig is an otlphttp default config for endpoint, with retries
// that give up quickly, as a test needs.
func destinationConfig(endpoint string) *otlphttpexporter.Config {
	cfg := otlphttpDefault()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.ClientConfig.Timeout = 2 * time.Second
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 300 * time.Millisecond
	return cfg
}

// startExporter builds the exporter through its factory with telemetry read
// by a real metric reader, starts it, and shuts it down at the end of the
// test if the test did not.
func startExporter(t *testing.T, cfg *Config) (exporter.Traces, *componenttest.Telemetry) {
	t.Helper()
	exp, tel, _ := startExporterWithLogs(t, cfg)
	return exp, tel
}

// startExporterWithLogs is startExporter with every log entry (debug and
// up) recorded.
func startExporterWithLogs(t *testing.T, cfg *Config) (exporter.Traces, *componenttest.Telemetry, *observer.ObservedLogs) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	core, logs := observer.New(zap.DebugLevel)
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = exp.Shutdown(context.Background()) }) })
	return exp, tel, logs
}

// resourceSpec describes one resource of a test batch: its route (the value
// of route.Attribute, absent when empty) and how many spans it holds.
type resourceSpec struct {
	to    string
	spans int
}

// newTraces builds a batch with one resource per spec, each stamped with the
// trace config attributes and the route trace_routing would set.
func newTraces(specs ...resourceSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", "svc")
		attrs.PutStr("trace_config.account", "a1")
		attrs.PutStr("trace_config.zone", "z1")
		attrs.PutStr("trace_config.workspace", "w1")
		if s.to != "" {
			attrs.PutStr(route.Attribute, s.to)
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := 0; i < s.spans; i++ {
			sp := spans.AppendEmpty()
			sp.SetName("op")
			sp.SetTraceID(pcommon.TraceID{1, 2, 3, byte(i)})
			sp.SetSpanID(pcommon.SpanID{4, 5, 6, byte(i)})
		}
	}
	return td
}

// counter sums the points of an int64 sum or gauge whose attributes include
// every kv (key, value pairs); 0 when the metric or no such point exists.
func counter(t *testing.T, tel *componenttest.Telemetry, name string, kv ...string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var points []metricdata.DataPoint[int64]
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = data.DataPoints
	case metricdata.Gauge[int64]:
		points = data.DataPoints
	default:
		require.Failf(t, "unexpected metric type", "%s is %T", name, m.Data)
	}
	var total int64
	for _, dp := range points {
		if hasAttributes(dp.Attributes, kv) {
			total += dp.Value
		}
	}
	return total
}

func hasAttributes(set attribute.Set, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := set.Value(attribute.Key(kv[i]))
		if !ok || v.AsString() != kv[i+1] {
			return false
		}
	}
	return true
}

// gate holds a backend's answers until it is opened, and counts the
// requests that reached it meanwhile.
type gate struct {
	release chan struct{}
	once    sync.Once
	arrived atomic.Int64
}

// newGatedDestination returns a healthy backend that holds every answer
// until its gate opens, and a destination config for it that sends one
// request at a time (one queue consumer) and waits for the gate (a 10 s
// timeout) rather than giving up. The gate opens at the end of the test at
// the latest (before the server closes, cleanups running last-in first-out).
func newGatedDestination(t *testing.T) (*backend, *gate, *otlphttpexporter.Config) {
	g := &gate{release: make(chan struct{})}
	b := newBackend(t, http.StatusOK, g.hold)
	t.Cleanup(g.open)
	cfg := destinationConfig(b.srv.URL)
	cfg.ClientConfig.Timeout = 10 * time.Second
	cfg.QueueConfig.Get().NumConsumers = 1
	return b, g, cfg
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) hold(*http.Request) {
	g.arrived.Add(1)
	<-g.release
}
