package lifecycleidentityprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLongLivedTraceDefaults: the product's case with the shipped defaults.
// A lifecycle trace of 20,000 spans (handlers with four children each,
// children first) and its root arriving last: every output trace is bounded,
// every tree valid (no parent link lost, even for the spans of the trace's
// prefix), and the root lands in segment 0.
func TestLongLivedTraceDefaults(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, createDefaultConfig().(*Config), newFakeClock(), telemetrySettings(tt))
	tid := traceID(42)
	batches := lifecycleBatches(tid, 20_000)
	var in []tspan
	for bi, td := range batches {
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			sp := spans.At(i)
			sp.SetName(fmt.Sprintf("b%d.%d", bi, i))
			in = append(in, tspan{trace: tid, id: sp.SpanID(), parent: sp.ParentSpanID(), name: sp.Name()})
		}
	}
	root := tspan{trace: tid, id: spanID(1), name: "lifecycle"}
	in = append(in, root)
	batches = append(batches, batch([]tspan{root}))

	outs := run(t, p, batches)
	v := checkInvariants(in, outs, 2000)
	require.Empty(t, v.hard)
	assert.Zero(t, v.broken, v.trees)

	out := collect(outs)
	perTrace := map[[16]byte]int{}
	for _, o := range out {
		perTrace[o.trace]++
	}
	assert.Len(t, perTrace, 10)
	for id, n := range perTrace {
		if id == tid {
			assert.Equal(t, 2001, n, "segment 0: 2000 spans and the late root")
		} else {
			assert.LessOrEqual(t, n, 2000, "segment %x", id)
		}
	}
	last := out[len(out)-1]
	assert.Equal(t, "lifecycle", last.name)
	assert.Equal(t, tid, last.trace, "the lifecycle root lands in segment 0")
	assert.Equal(t, int64(9), counterValue(t, tt, mSegments))
	assert.Equal(t, int64(0), counterValue(t, tt, mLinksLost))
	// Handlers in segments 1..9 were re-rooted with a link to the root, and
	// so were children whose handler was first named in the segment before.
	rerooted := counterValue(t, tt, mRerooted)
	assert.GreaterOrEqual(t, rerooted, int64(18_000/5))
	assert.LessOrEqual(t, rerooted, int64(18_000/5+9*5))
}
