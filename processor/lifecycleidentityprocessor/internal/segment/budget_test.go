package segment

import (
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lifecycleMany feeds traces lifecycle traces (as lifecycle does) to e,
// interleaved: each turn gives every trace perTurn more spans, in batches
// of 1000 spans (one Begin each). after is called after every batch.
func lifecycleMany(e *Engine, traces, perTurn, turns int, after func()) {
	next := make([]uint64, traces) // next span key of each trace
	for i := range next {
		next[i] = 2
	}
	inBatch := 0
	e.Begin(epoch)
	for turn := 0; turn < turns; turn++ {
		for tr := 0; tr < traces; tr++ {
			t := tid(uint64(tr + 1))
			for made := 0; made < perTurn; made += 5 {
				handler := next[tr]
				for c := uint64(1); c <= 4; c++ {
					e.Assign(t, handler+c, handler, 0)
				}
				e.Assign(t, handler, 1, 0)
				next[tr] += 5
				if inBatch += 5; inBatch >= 1000 {
					if after != nil {
						after()
					}
					e.Begin(epoch)
					inBatch = 0
				}
			}
		}
	}
}

// TestStateBudgetEvictsOldestFirst: with max_state_mib small, the engine
// keeps what it holds near the budget by evicting the least recently
// active traces, counts those evictions apart, and a trace continuing after
// one starts a continuation segment (it never grows a closed one).
func TestStateBudgetEvictsOldestFirst(t *testing.T) {
	cfg := testConfig(200)
	cfg.MaxStateBytes = 1 << 20
	e := New(cfg, epoch)
	var peak int64
	lifecycleMany(e, 400, 1000, 1, func() { peak = max(peak, e.HeldBytes()) })
	st := e.TakeStats()
	assert.Positive(t, st.Evicted[ReasonStateBytes], "the budget evicted traces")
	assert.Zero(t, st.Evicted[ReasonCapacity])
	assert.Zero(t, st.Evicted[ReasonIdle])
	// Between two checks a batch grows the state by at most a few filters.
	assert.LessOrEqual(t, peak, cfg.MaxStateBytes+256<<10, "held %d, budget %d", peak, cfg.MaxStateBytes)
	assert.Less(t, e.Tracked(), 400, "some traces were dropped")

	// The least recently active trace went first: the one fed last is
	// still tracked, a continuation of an evicted one starts beyond every
	// ordinary segment.
	_, ok := e.TraceBytes(tid(400))
	assert.True(t, ok)
	e.Begin(epoch)
	var evicted TraceID
	for i := uint64(1); i <= 400; i++ {
		if _, ok := e.TraceBytes(tid(i)); !ok {
			evicted = tid(i)
			break
		}
	}
	require.NotEqual(t, TraceID{}, evicted)
	d := e.Assign(evicted, 1<<40, 1, 0)
	assert.GreaterOrEqual(t, d.Segment, restartBase)
}

// TestHeldBytesCountsWhatIsFreed: what the engine counts goes back to the
// empty table's when every trace is evicted.
func TestHeldBytesCountsWhatIsFreed(t *testing.T) {
	cfg := testConfig(200)
	cfg.IdleTimeout = 1
	e := New(cfg, epoch)
	empty := e.HeldBytes()
	lifecycleMany(e, 50, 1000, 2, nil)
	for i := uint64(1); i <= 20; i++ { // mid-size and prefix traces too
		for s := uint64(1); s <= i*3; s++ {
			e.Assign(tid(1000+i), s, s/2, 0)
		}
	}
	require.Greater(t, e.spanStateBytes, int64(0))
	e.Begin(epoch.Add(1e9)) // everything idle
	assert.Zero(t, e.Tracked())
	assert.Zero(t, e.spanStateBytes, "per-span state counted and given back")
	assert.Zero(t, e.blocks.inUse(), "its filters and digest lists too")
	// The evicted set is new, the table's chunks stay for reuse.
	assert.GreaterOrEqual(t, e.HeldBytes(), empty)
}

// BenchmarkStateBudgetLifecycle: with max_state_mib 64, 10,000 lifecycle
// traces (6,000 spans each, interleaved 500 at a time, max_spans 2000:
// about 24 KB of state each after their first split, 230 MB without the
// budget) never take the live heap plus what lies outside it past the
// budget plus 50 MiB. The live heap is the heap the last collection
// found live: what no collection can free (runtime/metrics).
func BenchmarkStateBudgetLifecycle(b *testing.B) {
	const budget, slack = 64 << 20, 50 << 20
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		metrics.Read(sample)
		base := int64(sample[0].Value.Uint64())
		cfg := testConfig(2000)
		cfg.MaxStateBytes = budget
		e := New(cfg, epoch)
		var peakLive, peakObjects, peakHeld int64
		batches := 0
		lifecycleMany(e, 10_000, 500, 12, func() {
			batches++
			if batches%16 != 0 {
				return
			}
			metrics.Read(sample)
			off := e.OffHeapBytes()
			peakLive = max(peakLive, int64(sample[0].Value.Uint64())-base+off)
			peakObjects = max(peakObjects, int64(sample[1].Value.Uint64())-base+off)
			peakHeld = max(peakHeld, e.HeldBytes())
		})
		st := e.TakeStats()
		b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MiB")
		b.ReportMetric(float64(peakObjects)/(1<<20), "peak-heap-objects-MiB")
		b.ReportMetric(float64(peakHeld)/(1<<20), "peak-held-MiB")
		b.ReportMetric(float64(st.Evicted[ReasonStateBytes]), "evicted-by-budget")
		if peakLive > budget+slack {
			b.Fatalf("live heap and mappings peaked at %d MiB, past the budget (%d MiB) + %d MiB", peakLive>>20, budget>>20, slack>>20)
		}
		if st.Evicted[ReasonStateBytes] == 0 {
			b.Fatal("the budget evicted nothing: the workload does not exceed it")
		}
		e.Reset()
	}
}

// FixedBytes is what a table that reached max_traces holds outside the heap,
// and a budget just above it lets the table fill with traces that hold
// nothing else: none is evicted by the budget, so none starts over as a
// continuation. (At or under it, every new trace evicted all the others.)
func TestFixedBytesIsTheFloorOfTheBudget(t *testing.T) {
	for _, maxTraces := range []int{1_000, 5_000, 70_000} {
		cfg := testConfig(200)
		cfg.MaxTraces = maxTraces
		cfg.MaxStateBytes = FixedBytes(maxTraces) + 64<<10
		e := New(cfg, epoch)
		e.Begin(epoch)
		for i := range maxTraces + 1 { // one more: an eviction by max_traces
			e.Assign(tid(uint64(i+1)), 1, 0, 0)
		}
		st := e.TakeStats()
		assert.Equal(t, FixedBytes(maxTraces), e.OffHeapBytes(), "max_traces %d", maxTraces)
		assert.Equal(t, int64(1), st.Evicted[ReasonCapacity], "max_traces %d", maxTraces)
		assert.Zero(t, st.Evicted[ReasonStateBytes], "max_traces %d", maxTraces)
		assert.Equal(t, maxTraces, e.Tracked())
		e.Reset()
	}
}
