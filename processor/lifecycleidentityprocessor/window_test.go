package lifecycleidentityprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

const mForgotten = "otelcol_processor_lifecycle_identity_segments_forgotten"

// windowConfig is a shape of the window of closed segments: segments per
// generation and generations.
type windowConfig struct {
	genSegs uint64
	gens    int
}

var defaultWindow = func() windowConfig {
	g, n := segment.Window()
	return windowConfig{g, n}
}()

// testWindow is the window of the processors newCore creates, and the one
// checkInvariants assumes.
var testWindow = defaultWindow

// narrowWindow makes processors created during the test remember only gens
// generations of genSegs closed segments each.
func narrowWindow(t testing.TB, genSegs uint64, gens int) {
	old := testWindow
	testWindow = windowConfig{genSegs, gens}
	t.Cleanup(func() { testWindow = old })
}

// TestWindowForgetsOldestSegments: max_spans 2 and a window of 9
// generations of 8 segments (the default until issue 13). When segment 72 closes, generation 0
// (segments 0-7) is forgotten: 8 segments counted, the parent named in
// segment 3 that never arrived is forgotten and counted as a parent link
// lost; a child of a span of segment 1 keeps its parent ID (its tree
// breaks, the cost of the window), a child of a span of segment 9 is still
// re-rooted with its link; the lifecycle root, named in segment 0, still
// joins segment 0 when it arrives last. When segment 80 closes, generation 1
// goes: 16 segments in all.
func TestWindowForgetsOldestSegments(t *testing.T) {
	narrowWindow(t, 8, 9)
	tt := newTelemetry(t)
	p := newCore(t, testConfig(2), newFakeClock(), telemetrySettings(tt))
	spans := make([]tspan, 0, 170)
	for i := 0; i < 170; i++ { // roots, two per segment: span i lands in segment i/2
		spans = append(spans, g(fmt.Sprint("s", i), uint64(1000+i), 0))
	}
	spans[0] = g("c0", 1000, 1)     // names the lifecycle root in segment 0
	spans[2] = g("x", 50, 0)        // segment 1, generation 0
	spans[6] = g("orphan", 300, 99) // names 99 in segment 3; 99 comes at the end
	spans[18] = g("y", 60, 0)       // segment 9, generation 1
	spans[146] = g("cx", 1146, 50)  // segment 73: generation 0 is gone
	spans[147] = g("cy", 1147, 60)  // segment 73: generation 1 is in the window
	spans = append(spans, g("p99", 99, 0), g("root", 1, 0))

	var outs []ptrace.Traces
	check := func(upTo, forgotten, lost int) {
		for len(outs) < upTo {
			outs = append(outs, run(t, p, []ptrace.Traces{batch(spans[len(outs) : len(outs)+1])})...)
		}
		assert.Equal(t, int64(forgotten), counterValue(t, tt, mForgotten), "after %d spans", upTo)
		assert.Equal(t, int64(lost), counterValue(t, tt, mLinksLost), "after %d spans", upTo)
	}
	check(146, 0, 0)  // segments 0-71 closed, 72 current
	check(147, 8, 1)  // segment 72 closed: generation 9 opens, generation 0 goes
	check(162, 8, 1)  // segment 80 current
	check(163, 16, 1) // segment 80 closed: generation 1 goes
	check(len(spans), 16, 1)

	got := map[string]outSpan{}
	for _, o := range collect(outs) {
		got[o.name] = o
	}
	assert.Equal(t, int64(1), got["x"].index)
	assert.Equal(t, int64(73), got["cx"].index)
	assert.Equal(t, spanID(50), got["cx"].parent, "cx keeps its parent, which left the window")
	assert.Nil(t, got["cx"].link)
	assert.True(t, got["cy"].parent.IsEmpty(), "cy is re-rooted: its parent is in segment 9")
	require.NotNil(t, got["cy"].link)
	assert.Equal(t, spanID(60), got["cy"].link.SpanID)
	assert.Equal(t, int64(85), got["p99"].index, "99 was forgotten with segment 3: it lands in the current segment")
	assert.Equal(t, goldenTrace, got["root"].trace, "the lifecycle root still joins segment 0")
	assert.False(t, got["root"].hasIndex)
	assert.Equal(t, int64(1), counterValue(t, tt, mRerooted), "cy only")

	// cx named 50 again, in segment 73 (generation 9): when segment 144
	// closes, generation 9 is forgotten and 50 is counted as a parent link
	// lost, besides segment 1 in segments_forgotten.
	n := len(spans)
	for i := 0; i < 120; i++ { // p99 is alone in segment 85: span n+119 opens 145
		spans = append(spans, g(fmt.Sprint("t", i), uint64(5000+i), 0))
	}
	check(n+119, 72, 1) // segment 144 current; generations 0-8 forgotten
	check(n+120, 80, 2)
	require.NoError(t, p.shutdown(t.Context()))
}
