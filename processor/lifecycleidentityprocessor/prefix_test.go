package lifecycleidentityprocessor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestSeenSetNoFalseNegatives: every fingerprint added is found, whether the
// set filled or not; a full set refuses new fingerprints and changes nothing.
func TestSeenSetNoFalseNegatives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		var ss seenSet
		var in []uint16
		for i := 0; i < 16; i++ {
			fp := seenFP(r.Uint64())
			if round%3 == 0 {
				fp = uint16(1 + r.IntN(6)) // many duplicates
			}
			before := ss
			if ss.add(fp) {
				in = append(in, fp)
			} else {
				assert.Equal(t, before, ss, "a refused add changes nothing")
			}
		}
		for _, fp := range in {
			require.True(t, ss.has(fp))
		}
	}
}

// TestNamedSlab: per-trace lists in one slab, exact membership, reuse of
// freed entries.
func TestNamedSlab(t *testing.T) {
	var n namedSlab
	var a, b int32
	for id := uint64(1); id <= 4; id++ {
		n.push(&a, id)
		n.push(&b, 100+id)
	}
	found, length := n.find(a, 1)
	assert.True(t, found)
	assert.Equal(t, 3, length)
	found, length = n.find(a, 101)
	assert.False(t, found)
	assert.Equal(t, 4, length)
	assert.True(t, n.remove(&a, 3))
	assert.False(t, n.remove(&a, 3))
	var got []uint64
	n.drain(&a, func(id uint64) { got = append(got, id) })
	assert.ElementsMatch(t, []uint64{1, 2, 4}, got)
	assert.Zero(t, a)
	size := len(n.entries)
	n.push(&a, 7)
	assert.Equal(t, size, len(n.entries), "freed entries are reused")
	for id := uint64(101); id <= 104; id++ {
		found, _ := n.find(b, id)
		assert.True(t, found)
	}
}

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
	assert.Equal(t, spanID(1), by["C"].link.SpanID())
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
	// Find an ID whose fingerprint collides with span 1's.
	var twin uint64
	for id := uint64(2); ; id++ {
		if seenFP(id) == seenFP(1) {
			twin = id
			break
		}
	}
	p := newCore(t, testConfig(2), newFakeClock(), nopSettings())
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
	p = newCore(t, testConfig(3), newFakeClock(), nopSettings())
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
	defer func(m uint16) { seenFPMask = m }(seenFPMask)
	seenFPMask = 7
	for seed := uint64(400); seed < 460; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			w := genWorkload(r, 40)
			maxSpans := 2 + r.IntN(60)
			tt := newTelemetry(t)
			p := newCore(t, testConfig(maxSpans), newFakeClock(), telemetrySettings(tt))
			outs := run(t, p, build(w.batches(r, 64)))
			v := checkInvariants(w.spans, outs, maxSpans)
			require.Empty(t, v.hard, "maxSpans=%d", maxSpans)
			assert.LessOrEqual(t, int64(v.lost), counterValue(t, tt, mLinksLost), "maxSpans=%d: %v", maxSpans, v.trees)
		})
	}
}
