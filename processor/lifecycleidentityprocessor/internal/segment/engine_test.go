package segment

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldBytes is what the per-span state of a split trace holds, by the
// capacity of its parts.
func heldBytes(e *Engine, t TraceID) int {
	n, ok := e.TraceBytes(t)
	if !ok {
		return 0
	}
	return int(n)
}

// TestSplitStateIsFlat: the state of one lifecycle trace stops growing once
// its window of closed segments is full, and stays the same however long
// the trace lives: the same at 1000 segments as at 300.
func TestSplitStateIsFlat(t *testing.T) {
	const maxSpans = 100
	e := New(testConfig(maxSpans), epoch)
	tr := tid(1)
	var at30k int
	lifecycle(e, tr, 100_000, func(n int) {
		d := stateOf(e, tr)
		require.NotNil(t, d)
		if n == 30_000 {
			at30k = heldBytes(e, tr)
		}
		require.LessOrEqual(t, len(d.counts), windowSegments+genSegments, "counts of segments in the window only")
		for i, g := range d.closed.gens {
			require.Equal(t, g.live(), len(g.filters) == 1, "generation %d: one filter, sized to fit", i)
		}
	})
	d := stateOf(e, tr)
	assert.Equal(t, uint64(999), d.seg)
	assert.Equal(t, at30k, heldBytes(e, tr), "state held at 30,000 spans and at 100,000")
	assert.LessOrEqual(t, heldBytes(e, tr), windowGens*genSegments*maxSpans*spanBloomBitsPerKey/8+8*1024, "the window plus a few KB")
	t.Logf("held: %d bytes", heldBytes(e, tr))
	_, ok := d.pendingClosed[1]
	assert.True(t, ok, "the lifecycle root, named in segment 0, is still expected there")
}

// TestFirstGenerationSizedForSegmentZero: generation 0 is sized when segment
// 0 closes, from its span count, not from the digests the split state holds
// for it (the spans past the prefix's seen set only): with max_spans 40, 10
// of segment 0's spans are in the seen set, and a filter sized for the other
// 30 per segment would chain a second one within generation 0.
func TestFirstGenerationSizedForSegmentZero(t *testing.T) {
	const maxSpans = 40
	e := New(testConfig(maxSpans), epoch)
	tr := tid(1)
	lifecycle(e, tr, 1000, nil) // 25 segments
	d := stateOf(e, tr)
	require.NotNil(t, d)
	require.Equal(t, uint64(24), d.seg)
	for i, g := range d.closed.gens {
		require.Equal(t, g.live(), len(g.filters) == 1, "generation %d: one filter, sized to fit", i)
	}
	assert.Equal(t, genSegments*maxSpans, d.closed.gens[0].filters[0].limit)
}

// TestPendingParentsCapped: a trace remembers at most max_spans parents
// named in closed segments that have not arrived, the newest ones.
//
// max_spans 4: every span is a child of its own parent that never arrives.
// Closing segments 0..4 names 20 parents: the 4 of segment 4 are
// remembered, 16 forgotten and counted.
func TestPendingParentsCapped(t *testing.T) {
	const maxSpans, segments = 4, 5
	e := New(testConfig(maxSpans), epoch)
	tr := tid(1)
	parentOf := func(i uint64) uint64 { return 0x1000 + i }
	n := uint64(maxSpans*segments + 1) // the last span closes segment 4
	for i := uint64(1); i <= n; i++ {
		e.Begin(epoch)
		e.Assign(tr, i, parentOf(i), 0)
		if d := stateOf(e, tr); d != nil && d.splitExtra != nil {
			require.LessOrEqual(t, len(d.pendingClosed), maxSpans, "after span %d", i)
		}
	}
	d := stateOf(e, tr)
	require.NotNil(t, d)
	require.Equal(t, uint64(segments), d.seg)
	var kept []uint64
	for k, j := range d.pendingClosed {
		kept = append(kept, k)
		assert.Equal(t, uint64(segments-1), j, "parent %#x was named in segment %d", k, segments-1)
	}
	slices.Sort(kept)
	var want []uint64
	for i := n - maxSpans; i < n; i++ {
		want = append(want, parentOf(i))
	}
	assert.Equal(t, want, kept)
	assert.Equal(t, int64(maxSpans*segments-maxSpans), e.TakeStats().LinksLost, "every forgotten parent counted once")
}

// TestResetDropsEverything: after Reset the engine holds no trace, no
// per-span state, no middle tier, no open parent and no memory of
// evictions; only an empty index.
func TestResetDropsEverything(t *testing.T) {
	cfg := testConfig(100)
	cfg.MaxTraces = 4
	e := New(cfg, epoch)
	e.Begin(epoch)
	e.Assign(tid(1), 1, 0, 0) // evicted when the fifth trace arrives
	for i := uint64(1); i <= 150; i++ {
		e.Assign(tid(2), 0x100+i, 0x100, 0) // splits
	}
	for i := uint64(1); i <= 15; i++ {
		e.Assign(tid(3), 0x300+i, 0, 0) // a middle tier
	}
	e.Assign(tid(4), 0x401, 0x481, 0) // an open parent
	e.Assign(tid(5), 0x500, 0, 0)
	require.Equal(t, 4, e.Tracked())
	require.NotEmpty(t, e.details.states)
	require.NotEmpty(t, e.mids.tiers)
	require.NotEmpty(t, e.named.entries)
	require.NotNil(t, e.evicted)
	require.Greater(t, e.HeldBytes(), int64(minIndexSize*8))

	e.Reset()
	assert.Zero(t, e.Tracked())
	assert.Equal(t, nilIdx, e.table.head)
	assert.Empty(t, e.table.chunks)
	for i := uint64(1); i <= 5; i++ {
		_, found := e.table.get(tid(i))
		assert.False(t, found, "trace %d is forgotten", i)
	}
	assert.Empty(t, e.details.states)
	assert.Empty(t, e.mids.tiers)
	assert.Empty(t, e.named.entries)
	assert.Nil(t, e.evicted)
	assert.Equal(t, nilIdx, e.lastIdx, "the lookup cache points nowhere")
	assert.Equal(t, int64(minIndexSize*4), e.HeldBytes(), "only the empty index")
}

// TestBusyTraceIsNotIdle: a trace whose spans alone fill batch after batch
// stays tracked as long as batches keep coming within idle_timeout. (The
// one-entry lookup cache outlived its batch, so such a trace was never
// marked active after its first batch and was dropped idle_timeout later:
// found by FuzzEngineVsModel.)
func TestBusyTraceIsNotIdle(t *testing.T) {
	cfg := testConfig(100)
	cfg.IdleTimeout = 5 * time.Second
	e := New(cfg, epoch)
	tr := tid(1)
	for i := uint64(0); i < 60; i++ {
		e.Begin(epoch.Add(time.Duration(i) * time.Second))
		d := e.Assign(tr, 100+i, 1, 0)
		require.Less(t, d.Segment, RestartBase, "batch %d: the trace never restarts", i)
	}
	assert.Zero(t, e.TakeStats().Evicted[ReasonIdle])
}
