package lifecycleidentityprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
)

const (
	mProcessed = "otelcol_processor_lifecycle_identity_spans_processed"
	mMoved     = "otelcol_processor_lifecycle_identity_spans_moved"
	mRerooted  = "otelcol_processor_lifecycle_identity_spans_rerooted"
	mSegments  = "otelcol_processor_lifecycle_identity_segments_opened"
	mTracked   = "otelcol_processor_lifecycle_identity_traces_tracked"
	mEvicted   = "otelcol_processor_lifecycle_identity_traces_evicted"
	mLinksLost = "otelcol_processor_lifecycle_identity_parent_links_lost"
	mViolation = "otelcol_processor_lifecycle_identity_violations"
	mDropped   = "otelcol_processor_lifecycle_identity_spans_dropped"
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

func TestShutdownDropsState(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(100), newFakeClock(), telemetrySettings(tt))
	run(t, p, []ptrace.Traces{batch([]tspan{g("a", 1, 0)})})
	n, _ := gaugeValue(t, tt, mTracked)
	require.Equal(t, int64(1), n)
	require.NoError(t, p.shutdown(t.Context()))
	assert.Equal(t, int64(0), p.tracked.Load())
	if n, ok := gaugeValue(t, tt, mTracked); ok {
		assert.Equal(t, int64(0), n)
	}
}
