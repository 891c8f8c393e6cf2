package lifecycleidentityprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/metadata"
	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/metadatatest"
	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tspan is a span as tests describe it.
type tspan struct {
	trace  pcommon.TraceID
	id     pcommon.SpanID
	parent pcommon.SpanID
	name   string
}

func traceID(n uint64) pcommon.TraceID {
	var t pcommon.TraceID
	for i := 0; i < 8; i++ {
		t[i] = byte(n >> (8 * (7 - i)))
		t[8+i] = byte((n * 0x9e3779b97f4a7c15) >> (8 * (7 - i)))
	}
	t[0] |= 0x80 // never empty
	return t
}

// spanID is the span ID whose key (spanKey) is n; 0 gives the empty ID.
func spanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

// setIdentity stamps a valid default identity on a resource.
func setIdentity(attrs pcommon.Map) {
	attrs.PutStr("component.name", "checkout")
	attrs.PutStr("footprint.identifier", "fp-1")
	attrs.PutInt("footprint.revision", 7)
	attrs.PutStr("footprint.solution", "shop")
	attrs.PutStr("process.nonce", "123e4567-e89b-12d3-a456-426614174000")
}

// batch builds one request: a resource with a valid identity and the spans in order.
func batch(spans []tspan) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	setIdentity(rs.Resource().Attributes())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("test")
	out := ss.Spans()
	out.EnsureCapacity(len(spans))
	for _, s := range spans {
		sp := out.AppendEmpty()
		sp.SetTraceID(s.trace)
		sp.SetSpanID(s.id)
		sp.SetParentSpanID(s.parent)
		sp.SetName(s.name)
		sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
		sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_001_000_000))
	}
	return td
}

// newCore is the processor core with a fake clock, called directly; opts
// are passed to its engine, after the narrowed window (narrowWindow), if
// any.
func newCore(t testing.TB, cfg *Config, clock *fakeClock, set processor.Settings, opts ...segment.Option) *lifecycleProcessor {
	require.NoError(t, cfg.Validate())
	if testWindow != defaultWindow {
		opts = append([]segment.Option{segment.WithWindow(testWindow.genSegs, testWindow.gens)}, opts...)
	}
	p, err := newLifecycleProcessor(set, cfg, clock.Now, opts...)
	require.NoError(t, err)
	return p
}

func nopSettings() processor.Settings {
	return processortest.NewNopSettings(metadata.Type)
}

func telemetrySettings(tt *componenttest.Telemetry) processor.Settings {
	return metadatatest.NewSettings(tt)
}

func testConfig(maxSpans int) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Split.MaxSpans = maxSpans
	return cfg
}

// run feeds batches through p and returns what came out.
func run(t testing.TB, p *lifecycleProcessor, batches []ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, 0, len(batches))
	for _, b := range batches {
		td, err := p.processTraces(context.Background(), b)
		if err != nil {
			continue // ErrSkipProcessingData: everything dropped
		}
		out = append(out, td)
	}
	return out
}

// randomEvictionConfig is a configuration with max_spans maxSpans where time
// matters: segments close by age (max_age 1-10 s) and state is dropped by
// idle timeout (1-5 s) and max_traces (1-10), drawn from r.
func randomEvictionConfig(r *rand.Rand, maxSpans int) *Config {
	cfg := testConfig(maxSpans)
	cfg.Split.MaxAge = time.Duration(1+r.IntN(10)) * time.Second
	cfg.Split.IdleTimeout = time.Duration(1+r.IntN(5)) * time.Second
	cfg.Split.MaxTraces = 1 + r.IntN(10)
	return cfg
}
