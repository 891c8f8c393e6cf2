package lifecycleidentityprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestPendingParentsCapped: the parents named in closed segments that have
// not arrived are remembered exactly, at most max_spans of them; at the cap
// the oldest is forgotten and counted as a parent link lost, exactly once
// each.
//
// max_spans 4: every span is a child of its own parent that never arrives.
// Each segment names 4 such parents; when it closes they move to the closed
// segments' list. Closing segments 0..4 names 20 parents: 4 are remembered,
// 16 forgotten.
func TestPendingParentsCapped(t *testing.T) {
	const maxSpans, segments = 4, 5
	tt := newTelemetry(t)
	p := newCore(t, testConfig(maxSpans), newFakeClock(), telemetrySettings(tt))
	parentOf := func(i uint64) uint64 { return 0x1000 + i }
	n := uint64(maxSpans*segments + 1) // the last span closes segment 4
	var in []tspan
	for i := uint64(1); i <= n; i++ {
		s := g(fmt.Sprint("c", i), i, parentOf(i))
		in = append(in, s)
		run(t, p, []ptrace.Traces{batch([]tspan{s})})
	}
	require.Equal(t, 1, p.split.Tracked())
	// Which parents are remembered, the newest, is checked on the engine
	// (internal/segment TestPendingParentsCapped).

	named := int64(maxSpans * segments)
	assert.Equal(t, named-maxSpans, counterValue(t, tt, mLinksLost), "every forgotten parent counted once")
	assert.Equal(t, int64(segments), counterValue(t, tt, mSegments))

	// A remembered parent still joins the segment that named it; a forgotten
	// one cannot, and lands in the current segment (its children were
	// re-rooted with their link, nothing more is lost).
	late := g("late-kept", parentOf(n-1), 0)
	forgotten := g("late-forgotten", parentOf(1), 0)
	out := collect(run(t, p, []ptrace.Traces{batch([]tspan{late, forgotten})}))
	require.Len(t, out, 2)
	assert.Equal(t, int64(segments-1), out[0].index, "a remembered parent joins its children's segment")
	assert.Equal(t, int64(segments), out[1].index, "a forgotten parent lands in the current segment")
	assert.Equal(t, named-maxSpans, counterValue(t, tt, mLinksLost))
	require.NoError(t, p.shutdown(t.Context()))
}
