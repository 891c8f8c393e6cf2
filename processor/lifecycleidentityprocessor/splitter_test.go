package lifecycleidentityprocessor

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

func TestSegmentTraceIDIsPinned(t *testing.T) {
	// The function is part of the contract (replicas and replays compute the
	// same IDs): SHA-256(trace ID || k big-endian), first 16 bytes.
	assert.Equal(t, goldenTrace, pcommon.TraceID(segment.SegmentTraceID(segment.TraceID(goldenTrace), 0)))
	assert.Equal(t, "f4c67be3c3e471154dea7c7e2561c1d5", hex.EncodeToString(func() []byte { id := segment.SegmentTraceID(segment.TraceID(goldenTrace), 1); return id[:] }()))
	assert.NotEqual(t, segment.SegmentTraceID(segment.TraceID(goldenTrace), 1), segment.SegmentTraceID(segment.TraceID(goldenTrace), 2))
}

func TestMaxAgeOpensSegment(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(100)
	cfg.Split.MaxAge = time.Minute
	p := newCore(t, cfg, clock, nopSettings())
	a := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("a", 1, 0)})}))
	clock.Advance(59 * time.Second)
	b := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("b", 2, 0)})}))
	clock.Advance(time.Second)
	c := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("c", 3, 0)})}))
	assert.Equal(t, goldenTrace, a[0].trace)
	assert.Equal(t, goldenTrace, b[0].trace)
	assert.Equal(t, int64(1), c[0].index, "segment 0 has been open max_age")
}

// TestContinuationAfterEvictionNeverGrowsClosedSegment: a trace whose state
// was dropped opens a fresh segment when it continues, beyond any it used.
func TestContinuationAfterEvictionNeverGrowsClosedSegment(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(2)
	cfg.Split.IdleTimeout = time.Minute
	p := newCore(t, cfg, clock, nopSettings())
	first := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("a", 1, 0), g("b", 2, 0), g("c", 3, 0)})}))
	assert.False(t, first[1].hasIndex)
	assert.Equal(t, int64(1), first[2].index)

	clock.Advance(2 * time.Minute) // state dropped
	second := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("d", 4, 0), g("e", 5, 0), g("f", 6, 0)})}))
	require.Len(t, second, 3)
	k := second[0].index
	assert.GreaterOrEqual(t, uint64(k), segment.RestartBase, "continuation starts beyond every ordinary segment")
	assert.Equal(t, k, second[1].index)
	assert.Equal(t, k+1, second[2].index)

	clock.Advance(2 * time.Minute) // dropped again
	third := collect(run(t, p, []ptrace.Traces{batch([]tspan{g("g", 7, 0)})}))
	assert.Greater(t, third[0].index, k+1, "a second continuation starts beyond the first one's segments")

	// A trace that never split is remembered too: its segment 0 was cut by
	// the eviction and is not grown again.
	other := tspan{trace: traceID(99), id: spanID(1), name: "x"}
	run(t, p, []ptrace.Traces{batch([]tspan{other})})
	clock.Advance(2 * time.Minute)
	other.id, other.name = spanID(2), "y"
	again := collect(run(t, p, []ptrace.Traces{batch([]tspan{other})}))
	assert.GreaterOrEqual(t, uint64(again[0].index), segment.RestartBase)
}

func TestInvalidIDsPassThrough(t *testing.T) {
	p := newCore(t, testConfig(1), newFakeClock(), nopSettings())
	in := []tspan{{name: "no-trace-id", id: spanID(1)}, {trace: goldenTrace, name: "no-span-id"}, {trace: goldenTrace, name: "no-span-id-2"}}
	out := collect(run(t, p, []ptrace.Traces{batch(in)}))
	require.Len(t, out, 3)
	assert.True(t, out[0].trace.IsEmpty())
	assert.Equal(t, goldenTrace, out[1].trace)
	assert.Equal(t, int64(1), out[2].index)
}
