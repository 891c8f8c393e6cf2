package lifecycleidentityprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

const (
	mProcessed  = "otelcol_processor_lifecycle_identity_spans_processed"
	mMoved      = "otelcol_processor_lifecycle_identity_spans_moved"
	mRerooted   = "otelcol_processor_lifecycle_identity_spans_rerooted"
	mSegments   = "otelcol_processor_lifecycle_identity_segments_opened"
	mTracked    = "otelcol_processor_lifecycle_identity_traces_tracked"
	mStateBytes = "otelcol_processor_lifecycle_identity_state_bytes"
	mEvicted    = "otelcol_processor_lifecycle_identity_traces_evicted"
	mLinksLost  = "otelcol_processor_lifecycle_identity_parent_links_lost"
	mViolation  = "otelcol_processor_lifecycle_identity_violations"
	mDropped    = "otelcol_processor_lifecycle_identity_spans_dropped"
)

func newTelemetry(t *testing.T) *componenttest.Telemetry {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	return tt
}

func TestTelemetrySplitCounters(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(3), newFakeClock(), telemetrySettings(tt))
	// The cut_at_max_spans scenario: 8 spans, segments 1 and 2 opened, four
	// handlers moved and re-rooted.
	run(t, p, []ptrace.Traces{goldenCases[1].input()})
	assert.Equal(t, int64(8), counterValue(t, tt, mProcessed))
	assert.Equal(t, int64(4), counterValue(t, tt, mMoved))
	assert.Equal(t, int64(4), counterValue(t, tt, mRerooted))
	assert.Equal(t, int64(2), counterValue(t, tt, mSegments))
	assert.Equal(t, int64(0), counterValue(t, tt, mLinksLost))
	assert.Equal(t, int64(0), counterValue(t, tt, mViolation))
	n, ok := gaugeValue(t, tt, mTracked)
	assert.True(t, ok)
	assert.Equal(t, int64(1), n)
	require.NoError(t, p.shutdown(t.Context()))
}

func TestTelemetryParentLinkLost(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(1), newFakeClock(), telemetrySettings(tt))
	// max_spans 1, so at most 2 spans per segment. c1 names P in segment 0;
	// c2 opens segment 1; P joins segment 0 (2 spans) and names R there; R
	// cannot join a full segment 0: one parent link lost, R opens segment 2.
	outs := run(t, p, []ptrace.Traces{batch([]tspan{
		g("c1", 0x11, 0x1), g("c2", 0x12, 0x2), g("P", 0x1, 0x9), g("R", 0x9, 0),
	})})
	assert.Equal(t, int64(1), counterValue(t, tt, mLinksLost))
	assert.Equal(t, int64(2), counterValue(t, tt, mSegments))
	got := collect(outs)
	require.Len(t, got, 4)
	assert.Equal(t, goldenTrace, got[2].trace, "P joins segment 0")
	assert.Equal(t, int64(2), got[3].index, "R cannot join the full segment 0")
}

func TestTelemetryViolationsAndDrops(t *testing.T) {
	for _, policy := range []string{OnViolationTag, OnViolationDrop, OnViolationCount} {
		t.Run(policy, func(t *testing.T) {
			tt := newTelemetry(t)
			cfg := createDefaultConfig().(*Config)
			cfg.Identity.OnViolation = policy
			p := newCore(t, cfg, newFakeClock(), telemetrySettings(tt))
			td := goldenCases[4].input()
			outs := run(t, p, []ptrace.Traces{td})
			kind := func(k string) int64 {
				return counterValue(t, tt, mViolation, attribute.String("kind", k))
			}
			assert.Equal(t, int64(1), kind("missing"))
			assert.Equal(t, int64(2), kind("type"))
			assert.Equal(t, int64(1), kind("pattern"))
			assert.Equal(t, int64(5), counterValue(t, tt, mProcessed))
			out := collect(outs)
			tagged := 0
			for _, td := range outs {
				spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				for i := 0; i < spans.Len(); i++ {
					if _, ok := spans.At(i).Attributes().Get(violationsAttr); ok {
						tagged++
					}
				}
			}
			switch policy {
			case OnViolationDrop:
				assert.Equal(t, int64(4), counterValue(t, tt, mDropped))
				require.Len(t, out, 1)
				assert.Equal(t, "ok", out[0].name)
			case OnViolationTag:
				assert.Equal(t, int64(0), counterValue(t, tt, mDropped))
				assert.Len(t, out, 5)
				assert.Equal(t, 4, tagged)
			case OnViolationCount:
				assert.Len(t, out, 5)
				assert.Equal(t, 0, tagged)
			}
		})
	}
}

// TestDefaultCountsViolationsChangesNothing: with the default config
// (on_violation count), a span that carries none of the identity attributes,
// on itself or its resource, leaves exactly as it came, without
// lifecycle.identity.violations, while the violations metric counts it: the
// default never adds diagnostics to spans bound for customers' destinations.
func TestDefaultCountsViolationsChangesNothing(t *testing.T) {
	tt := newTelemetry(t)
	sink := new(consumertest.TracesSink)
	f := NewFactory()
	p, err := f.CreateTraces(t.Context(), telemetrySettings(tt), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))

	td := batch([]tspan{g("no-identity", 1, 0)})
	td.ResourceSpans().At(0).Resource().Attributes().Clear()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("app.key", "v")
	want := ptrace.NewTraces()
	td.CopyTo(want)
	require.NoError(t, p.ConsumeTraces(t.Context(), td))
	require.NoError(t, p.Shutdown(t.Context()))

	require.Len(t, sink.AllTraces(), 1)
	got := sink.AllTraces()[0]
	span := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	_, tagged := span.Attributes().Get(violationsAttr)
	assert.False(t, tagged, "count adds no %s attribute", violationsAttr)
	assert.Equal(t, want, got, "the span leaves unchanged")

	// The default schema requires component.name and footprint.identifier;
	// the other three keys are optional, so their absence is no violation.
	assert.Equal(t, int64(2), counterValue(t, tt, mViolation, attribute.String("kind", "missing")))
	assert.Equal(t, int64(0), counterValue(t, tt, mViolation, attribute.String("kind", "type")))
	assert.Equal(t, int64(0), counterValue(t, tt, mViolation, attribute.String("kind", "pattern")))
	assert.Equal(t, int64(1), counterValue(t, tt, mProcessed))
	assert.Equal(t, int64(0), counterValue(t, tt, mDropped))
}

func TestDropEverythingSkipsBatch(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Identity.OnViolation = OnViolationDrop
	cfg.Identity.Attributes = []AttributeRule{{Key: "never.there", Required: true}}
	sink := new(consumertest.TracesSink)
	p, err := newTracesProcessor(t.Context(), nopSettings(), cfg, sink, newFakeClock().Now)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(t.Context(), batch([]tspan{g("a", 1, 0), g("b", 2, 1)})))
	assert.Equal(t, 0, sink.SpanCount())
	require.NoError(t, p.Shutdown(t.Context()))
}

func TestTrackedGaugeIdleAndCapacity(t *testing.T) {
	tt := newTelemetry(t)
	clock := newFakeClock()
	cfg := testConfig(100)
	cfg.Split.MaxTraces = 3
	cfg.Split.IdleTimeout = time.Minute
	p := newCore(t, cfg, clock, telemetrySettings(tt))
	var spans []tspan
	for i := uint64(1); i <= 5; i++ {
		spans = append(spans, tspan{trace: traceID(i), id: spanID(i), name: "s"})
	}
	run(t, p, []ptrace.Traces{batch(spans)})
	n, _ := gaugeValue(t, tt, mTracked)
	assert.Equal(t, int64(3), n)
	assert.Equal(t, int64(2), counterValue(t, tt, mEvicted, attribute.String("reason", "max_traces")))

	clock.Advance(59 * time.Second)
	p.sweep()
	n, _ = gaugeValue(t, tt, mTracked)
	assert.Equal(t, int64(3), n, "not idle yet")

	clock.Advance(time.Second)
	p.sweep()
	n, ok := gaugeValue(t, tt, mTracked)
	assert.True(t, ok)
	assert.Equal(t, int64(0), n, "state is gone after idle_timeout")
	assert.Equal(t, int64(3), counterValue(t, tt, mEvicted, attribute.String("reason", "idle_timeout")))
	require.NoError(t, p.shutdown(t.Context()))
}

// TestSweeperDropsIdleState: the background sweeper, not a new batch, drops
// idle state; the test moves the fake clock and waits for the sweeper.
func TestSweeperDropsIdleState(t *testing.T) {
	tt := newTelemetry(t)
	clock := newFakeClock()
	cfg := testConfig(100)
	cfg.Split.IdleTimeout = 50 * time.Millisecond // sweeps every 10ms of real time
	p, err := newTracesProcessor(t.Context(), telemetrySettings(tt), cfg, consumertest.NewNop(), clock.Now)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(t.Context(), batch([]tspan{g("a", 1, 0)})))
	n, _ := gaugeValue(t, tt, mTracked)
	require.Equal(t, int64(1), n)
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool {
		n, _ := gaugeValue(t, tt, mTracked)
		return n == 0
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, p.Shutdown(t.Context()))
}

// TestShutdownDropsState: shutdown drops the state of every trace (the
// trace table, per-span state, middle tiers, open-parent lists and the memory
// of evictions), and the traces_tracked gauge reads 0 through the real
// reader at the last collection before the telemetry is shut down (after
// that the instrument reports nothing).
func TestShutdownDropsState(t *testing.T) {
	tt := newTelemetry(t)
	var atUnregister [][2]int64 // the gauges as collected when the first callback is unregistered
	set := telemetrySettings(tt)
	set.TelemetrySettings.MeterProvider = unregisterHookProvider{
		MeterProvider: set.TelemetrySettings.MeterProvider,
		before: func() {
			if len(atUnregister) > 0 {
				return // the second gauge's, after the first is gone
			}
			n, ok := gaugeValue(t, tt, mTracked)
			require.True(t, ok, "traces_tracked reports a point while registered")
			b, ok := gaugeValue(t, tt, mStateBytes)
			require.True(t, ok, "state_bytes reports a point while registered")
			atUnregister = append(atUnregister, [2]int64{n, b})
		},
	}
	cfg := testConfig(100)
	cfg.Split.MaxTraces = 4
	p := newCore(t, cfg, newFakeClock(), set)
	require.NoError(t, p.start(t.Context(), componenttest.NewNopHost()))

	var spans []tspan
	// A trace that is evicted when the fifth trace arrives (max_traces 4).
	spans = append(spans, tspan{trace: traceID(1), id: spanID(1), name: "evicted"})
	// A trace that splits: per-span state.
	for i := uint64(1); i <= 150; i++ {
		spans = append(spans, tspan{trace: traceID(2), id: spanID(0x100 + i), parent: spanID(0x100), name: fmt.Sprint("split.", i)})
	}
	// A trace of 15 roots: its seen set is full, the rest is in a middle tier.
	for i := uint64(1); i <= 15; i++ {
		spans = append(spans, tspan{trace: traceID(3), id: spanID(0x300 + i), name: fmt.Sprint("mid.", i)})
	}
	// A trace whose spans name parents that have not arrived.
	for i := uint64(1); i <= 2; i++ {
		spans = append(spans, tspan{trace: traceID(4), id: spanID(0x400 + i), parent: spanID(0x480 + i), name: fmt.Sprint("named.", i)})
	}
	spans = append(spans, tspan{trace: traceID(5), id: spanID(0x500), name: "fifth"})
	run(t, p, []ptrace.Traces{batch(spans)})

	s := p.split
	require.Equal(t, 4, s.Tracked())
	n, ok := gaugeValue(t, tt, mTracked)
	require.True(t, ok)
	require.Equal(t, int64(4), n)
	held, ok := gaugeValue(t, tt, mStateBytes)
	require.True(t, ok)
	require.Greater(t, held, int64(150*4), "the split trace's digests at least")
	require.Equal(t, s.HeldBytes(), held)

	require.NoError(t, p.shutdown(t.Context()))

	// What Reset drops is checked on the engine (internal/segment
	// TestResetDropsEverything).
	assert.Zero(t, s.Tracked(), "no trace is tracked after shutdown")
	for i := uint64(1); i <= 5; i++ {
		_, found := s.TraceBytes(segment.TraceID(traceID(i)))
		assert.False(t, found, "trace %d is forgotten", i)
	}
	assert.Equal(t, int64(0), p.held.Load(), "state_bytes reads 0 once the state is gone")
	assert.Equal(t, int64(0), p.tracked.Load())

	require.Len(t, atUnregister, 1, "the gauges' callbacks are unregistered at shutdown")
	assert.Equal(t, int64(0), atUnregister[0][0], "traces_tracked reads 0 once the state is gone")
	assert.Equal(t, int64(0), atUnregister[0][1], "state_bytes reads 0 once the state is gone")
	_, ok = gaugeValue(t, tt, mTracked)
	assert.False(t, ok, "nothing is reported after shutdown")
}

// unregisterHookProvider wraps a MeterProvider so that before any callback
// registration is undone, before runs: a test can collect through the real
// reader at the last moment an asynchronous instrument still reports.
type unregisterHookProvider struct {
	metric.MeterProvider
	before func()
}

func (p unregisterHookProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return unregisterHookMeter{Meter: p.MeterProvider.Meter(name, opts...), before: p.before}
}

type unregisterHookMeter struct {
	metric.Meter
	before func()
}

func (m unregisterHookMeter) RegisterCallback(f metric.Callback, instruments ...metric.Observable) (metric.Registration, error) {
	reg, err := m.Meter.RegisterCallback(f, instruments...)
	if err != nil {
		return nil, err
	}
	return unregisterHookRegistration{Registration: reg, before: m.before}, nil
}

type unregisterHookRegistration struct {
	metric.Registration
	before func()
}

func (r unregisterHookRegistration) Unregister() error {
	r.before()
	return r.Registration.Unregister()
}
