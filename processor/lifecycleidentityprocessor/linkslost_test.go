package lifecycleidentityprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// Each test below drives exactly one of the places where a parent link is
// given up and checks parent_links_lost counts it exactly once (the other
// places stay at 0 in the scenario). TestTelemetryParentLinkLost covers a
// late parent named in a closed segment that is at 2 x max_spans, and
// TestPendingParentsCapped the cap on remembered parents.

// TestLinkLostLateParentOfFullPrefix: a trace without per-span state whose
// segment 0 has reached 2 x max_spans with late parents. A parent named by
// its prefix that arrives then cannot join segment 0 (assignPrefix): one
// link lost, and the span goes to segment 1.
//
// max_spans 2: c1 and c2 fill segment 0 naming P1 and P2; P1 and P2 arrive
// late, join segment 0 (4 spans = 2 x max_spans) and name Q1 and Q2; Q1
// arrives and cannot join.
func TestLinkLostLateParentOfFullPrefix(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(2), newFakeClock(), telemetrySettings(tt))
	in := []tspan{
		g("c1", 0x11, 0x1), g("c2", 0x12, 0x2),
		g("P1", 0x1, 0x21), g("P2", 0x2, 0x22),
	}
	outs := run(t, p, []ptrace.Traces{batch(in)})
	out := collect(outs)
	require.Len(t, out, 4)
	for _, o := range out {
		assert.Equal(t, goldenTrace, o.trace, "%s in segment 0", o.name)
	}
	held, tracked := p.split.TraceBytes(segment.TraceID(goldenTrace))
	require.True(t, tracked)
	require.Zero(t, held, "the trace is still in its prefix: no per-span state")
	require.Equal(t, int64(0), counterValue(t, tt, mLinksLost))

	q1 := g("Q1", 0x21, 0)
	outs = append(outs, run(t, p, []ptrace.Traces{batch([]tspan{q1})})...)
	out = collect(outs[1:])
	require.Len(t, out, 1)
	assert.Equal(t, int64(1), out[0].index, "Q1 cannot join segment 0, already at 2 x max_spans")
	assert.Equal(t, int64(1), counterValue(t, tt, mLinksLost), "exactly one parent link lost")
	assert.Equal(t, int64(1), counterValue(t, tt, mSegments))
	v := checkInvariants(append(in, q1), outs, 2)
	assert.Empty(t, v.hard)
	assert.Equal(t, 1, v.lost, "the lost link is P1's: its parent Q1 is in segment 1: %v", v.trees)
	require.NoError(t, p.shutdown(t.Context()))
}

// TestLinkLostLateParentOfFullCurrentSegment: a trace with per-span state
// whose current segment has reached 2 x max_spans with late parents. A
// parent named in the current segment that arrives then cannot join it
// (Engine.Assign, pendingCur): one link lost, and the span opens the next
// segment.
//
// max_spans 2: a and b fill segment 0; c3 and c4 open segment 1 naming P3 and
// P4; P3 and P4 arrive late, join segment 1 (4 spans) and name Q3 and Q4; Q3
// arrives and cannot join.
func TestLinkLostLateParentOfFullCurrentSegment(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(2), newFakeClock(), telemetrySettings(tt))
	in := []tspan{
		g("a", 0xa, 0), g("b", 0xb, 0),
		g("c3", 0x13, 0x3), g("c4", 0x14, 0x4),
		g("P3", 0x3, 0x23), g("P4", 0x4, 0x24),
	}
	out := collect(run(t, p, []ptrace.Traces{batch(in)}))
	require.Len(t, out, 6)
	for _, o := range out[2:] {
		assert.Equal(t, int64(1), o.index, "%s in segment 1", o.name)
	}
	require.Equal(t, int64(0), counterValue(t, tt, mLinksLost))

	q3 := g("Q3", 0x23, 0)
	out = collect(run(t, p, []ptrace.Traces{batch([]tspan{q3})}))
	require.Len(t, out, 1)
	assert.Equal(t, int64(2), out[0].index, "Q3 cannot join segment 1, already at 2 x max_spans")
	assert.Equal(t, int64(1), counterValue(t, tt, mLinksLost), "exactly one parent link lost")
	assert.Equal(t, int64(2), counterValue(t, tt, mSegments))

	// Q4, still named in segment 1 (now closed, full), cannot join either:
	// that is the closed-segment path, counted once more.
	out = collect(run(t, p, []ptrace.Traces{batch([]tspan{g("Q4", 0x24, 0)})}))
	require.Len(t, out, 1)
	assert.Equal(t, int64(2), out[0].index)
	assert.Equal(t, int64(2), counterValue(t, tt, mLinksLost))
	require.NoError(t, p.shutdown(t.Context()))
}
