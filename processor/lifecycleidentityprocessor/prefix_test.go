package lifecycleidentityprocessor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// TestPrefixParentsKeepTheirLinks: with the shipped behaviour, spans of the
// first part of segment 0 (recorded only in the trace's prefix) still
// decide the trees of later segments: a child of a parent that arrived there
// is re-rooted with its link, and a parent named there joins segment 0 when
// it arrives after the split.
func TestPrefixParentsKeepTheirLinks(t *testing.T) {
	tt := newTelemetry(t)
	p := newCore(t, testConfig(4), newFakeClock(), telemetrySettings(tt))
	in := []tspan{
		g("P", 1, 0),  // arrives first: its child comes after the split
		g("a", 2, 10), // names 10, which arrives after the split
		g("b", 3, 1),
		g("c", 4, 1),
		g("d", 5, 0), // segment 1 opens
		g("C", 6, 1), // parent P is in segment 0
		g("X", 10, 0),
	}
	outs := run(t, p, []ptrace.Traces{batch(in)})
	out := collect(outs)
	require.Len(t, out, len(in))
	by := map[string]outSpan{}
	for _, o := range out {
		by[o.name] = o
	}
	assert.Equal(t, int64(1), by["d"].index)
	assert.Equal(t, int64(1), by["C"].index)
	assert.True(t, by["C"].parent.IsEmpty(), "C is re-rooted")
	require.NotNil(t, by["C"].link)
	assert.Equal(t, spanID(1), by["C"].link.SpanID)
	assert.Equal(t, goldenTrace, by["X"].trace, "X joins segment 0, where a names it")
	assert.False(t, by["X"].hasIndex)
	v := checkInvariants(in, outs, 4)
	assert.Empty(t, v.hard)
	assert.Zero(t, v.broken, v.trees)
	assert.Zero(t, counterValue(t, tt, mLinksLost))
}

// TestPrefixFalsePositiveOnlyReroots: a span whose ID shares its fingerprint
// with a span of the prefix is treated as maybe in segment 0: its children
// that arrive before it are re-rooted with their links, the ones after it
// keep it. Nothing else changes.
func TestPrefixFalsePositiveOnlyReroots(t *testing.T) {
	// Fingerprints narrowed to one bit: every ID's collides with span 1's.
	const twin = 77
	oneBit := segment.WithFingerprintMask(1)
	p := newCore(t, testConfig(2), newFakeClock(), nopSettings(), oneBit)
	in := []tspan{
		g("A", 1, 0),
		g("B", 2, 0),
		g("c1", 100, twin), // segment 1: twin looks like it may be in segment 0
		g("T", twin, 0),    // arrives in segment 1
		g("c2", 101, twin), // segment 2 opens: twin is in closed segment 1
	}
	outs := run(t, p, []ptrace.Traces{batch(in)})
	out := collect(outs)
	by := map[string]outSpan{}
	for _, o := range out {
		by[o.name] = o
	}
	assert.True(t, by["c1"].parent.IsEmpty(), "re-rooted on the false positive")
	require.NotNil(t, by["c1"].link)
	assert.Equal(t, int64(1), by["T"].index, "the twin is placed as usual")
	assert.True(t, by["c2"].parent.IsEmpty(), "its parent is in a closed segment")
	v := checkInvariants(in, outs, 2)
	assert.Empty(t, v.hard)
	assert.Zero(t, v.broken, v.trees)

	// Same segment: a child after the twin keeps it.
	p = newCore(t, testConfig(3), newFakeClock(), nopSettings(), oneBit)
	in = []tspan{g("A", 1, 0), g("B", 2, 0), g("C", 3, 0), g("T", twin, 0), g("c", 100, twin)}
	out = collect(run(t, p, []ptrace.Traces{batch(in)}))
	assert.Equal(t, int64(1), out[4].index)
	assert.Equal(t, spanID(twin), out[4].parent, "the twin arrived in this segment: no re-root")
}

// TestPropertyPrefixFalsePositives: with fingerprints narrowed to 3 bits, the
// prefix's seen set answers "maybe" for most parents; trees stay valid (a
// false positive only re-roots a span with its link) and no degradation goes
// uncounted.
func TestPropertyPrefixFalsePositives(t *testing.T) {
	for seed := uint64(400); seed < 460; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			w := genWorkload(r, 40)
			maxSpans := 2 + r.IntN(60)
			tt := newTelemetry(t)
			p := newCore(t, testConfig(maxSpans), newFakeClock(), telemetrySettings(tt), segment.WithFingerprintMask(7))
			outs := run(t, p, build(w.batches(r, 64)))
			v := checkInvariants(w.spans, outs, maxSpans)
			require.Empty(t, v.hard, "maxSpans=%d", maxSpans)
			assert.LessOrEqual(t, int64(v.lost), counterValue(t, tt, mLinksLost), "maxSpans=%d: %v", maxSpans, v.trees)
		})
	}
}
