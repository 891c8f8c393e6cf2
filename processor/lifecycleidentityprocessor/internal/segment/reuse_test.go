package segment

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// churnSpans is a stream in which traces come and go far faster than they
// finish: half the spans go to 8 hot traces (one of which turns cold every
// 1,500 spans, dropping a full window of closed segments when evicted),
// the others to traces picked at random among many more than max_traces,
// which are evicted and come back as continuations. Each span names a
// parent that arrived, one still to come, or none; batches break at random
// and, one span in about clockEvery (if not 0), the clock steps, often
// past max_age and sometimes past idle_timeout. Span IDs
// repeat in no trace.
func churnSpans(seed uint64, traces, n, clockEvery int) []diffSpan {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	next := make([]uint64, traces)
	for i := range next {
		next[i] = 1
	}
	hot := []int{0, 1, 2, 3, 4, 5, 6, 7}
	spans := make([]diffSpan, 0, n)
	for len(spans) < n {
		if len(spans)%1500 == 1499 {
			hot[r.IntN(len(hot))] = r.IntN(traces)
		}
		tr := r.IntN(traces)
		if r.IntN(2) == 0 {
			tr = hot[r.IntN(len(hot))]
		}
		id := next[tr]
		next[tr]++
		var parent uint64
		switch x := r.IntN(10); {
		case x < 6 && id > 1:
			parent = 1 + r.Uint64N(id-1) // arrived (or forgotten)
		case x < 8:
			parent = id + 1 + r.Uint64N(8) // late
		}
		s := diffSpan{trace: tid(uint64(tr + 1)), id: id, parent: parent, start: uint64(len(spans)) * 1_000_003, batchBreak: r.IntN(50) == 0}
		if clockEvery > 0 && r.IntN(clockEvery) == 0 {
			s.step = time.Duration(1+r.IntN(6)) * time.Second
		}
		spans = append(spans, s)
	}
	return spans
}

// blockRef is a block of the engine's slabs that a trace's state refers to.
type blockRef struct {
	p     uintptr
	bytes uintptr
}

// checkBlocks fails t unless every block the tracked traces' state refers
// to (digest lists, filter bits) is one the slabs hold as handed out, of
// the size the state counts, no two of them overlap, and together they
// are all the slabs have handed out: a block freed while still referred
// to (a use after free, silent in a mapping) or never given back (a leak)
// shows here.
func checkBlocks(t testing.TB, e *Engine) {
	t.Helper()
	var refs []blockRef
	digests := func(l []uint32) {
		if cap(l) > 0 {
			refs = append(refs, blockRef{uintptr(unsafe.Pointer(unsafe.SliceData(l))), uintptr(cap(l)) * 4})
		}
	}
	for i := e.table.head; i != nilIdx; i = e.table.at(i).next() {
		ts := e.table.at(i)
		if d := e.detail(ts); d != nil {
			digests(d.seenCur)
			if d.splitExtra == nil {
				continue
			}
			for _, g := range d.closed.gens {
				for _, b := range g.filters {
					refs = append(refs, blockRef{uintptr(unsafe.Pointer(unsafe.SliceData(b.bits))), uintptr(cap(b.bits)) * 8})
				}
			}
		} else if m, ok := midIndex(ts.tier); ok {
			digests(e.mids.at(m).digests)
		}
	}
	// Plain comparisons, not assertions: this runs after every span.
	var total int64
	s := e.blocks.s
	for _, r := range refs {
		k := s.find(r.p)
		if k < 0 {
			t.Fatalf("a block of a tracked trace (%#x) is in no slab", r.p)
		}
		sl := s.byAddr[k]
		if slices.Contains(s.spare, sl) {
			t.Fatalf("a block of a tracked trace (%#x) is in a spare slab", r.p)
		}
		size := uintptr(sl.words) * 8
		off := r.p - sl.base()
		if i := off / size; off%size != 0 || sl.live[i/64]&(1<<(i%64)) == 0 {
			t.Fatalf("a block of a tracked trace (%#x) was given back, or starts inside one", r.p)
		}
		if size != r.bytes {
			t.Fatalf("the state counts %d bytes for a block of %d", r.bytes, size)
		}
		total += int64(r.bytes)
	}
	slices.SortFunc(refs, func(a, b blockRef) int { return cmp.Compare(a.p, b.p) })
	for i := 1; i < len(refs); i++ {
		if refs[i-1].p+refs[i-1].bytes > refs[i].p {
			t.Fatalf("two blocks of tracked traces overlap (%#x, %#x)", refs[i-1].p, refs[i].p)
		}
	}
	if total != e.blocks.inUse() {
		t.Fatalf("tracked traces refer to %d bytes of blocks, the slabs have %d handed out", total, e.blocks.inUse())
	}
}

// TestSlabReuseUnderChurn: traces that split are evicted by max_traces and
// idle_timeout, and come back as continuations, thousands of times, so
// that their filters and digest lists go back to the slabs and are handed
// out again all the time. Every decision is the model's (but for the
// differences FuzzEngineVsModel allows), and after every span the blocks
// the state refers to are exactly those the slabs hold as handed out.
func TestSlabReuseUnderChurn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		opts       []Option
		clockEvery int
	}{
		{"max_traces", Config{MaxSpans: 5, MaxAge: time.Hour, IdleTimeout: time.Hour, MaxTraces: 24}, nil, 30},
		{"narrow window", Config{MaxSpans: 3, MaxAge: time.Hour, IdleTimeout: time.Hour, MaxTraces: 16}, []Option{WithWindow(1, 2)}, 0},
		{"per-span state from start", Config{MaxSpans: 8, MaxAge: time.Hour, IdleTimeout: time.Hour, MaxTraces: 32}, []Option{WithPerSpanStateFromStart()}, 0},
		{"clock", Config{MaxSpans: 6, MaxAge: 3 * time.Second, IdleTimeout: 5 * time.Second, MaxTraces: 40}, []Option{WithWindow(2, 3)}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evicted, peak int64
			check := func(e *Engine) {
				checkBlocks(t, e)
				evicted = e.stats.Evicted[ReasonCapacity] + e.stats.Evicted[ReasonIdle]
				peak = max(peak, e.blocks.inUse())
			}
			diffRun(t, tc.cfg, tc.opts, churnSpans(uint64(len(tc.name)), 200, 20_000, tc.clockEvery), check)
			assert.Greater(t, evicted, int64(1000), "traces were evicted and came back")
			assert.Positive(t, peak, "traces held blocks")
		})
	}
}

// TestSlabReuseUnderBudget: the same with the byte budget doing the
// evicting (the model has no budget, so only the blocks are checked), and
// nothing left in use once every trace is gone.
func TestSlabReuseUnderBudget(t *testing.T) {
	cfg := testConfig(50)
	cfg.MaxTraces = 1000
	cfg.MaxStateBytes = FixedBytes(cfg.MaxTraces) + 256<<10
	e := New(cfg, epoch)
	batches := 0
	lifecycleMany(e, 300, 120, 15, func() {
		if batches++; batches%5 == 0 {
			checkBlocks(t, e)
		}
	})
	checkBlocks(t, e)
	st := e.TakeStats()
	require.Greater(t, st.Evicted[ReasonStateBytes], int64(1000), "the budget evicted, over and over")
	for e.table.head != nilIdx {
		e.evict(e.table.head, ReasonIdle)
	}
	assert.Zero(t, e.blocks.inUse(), "every block given back")
	assert.Zero(t, e.spanStateBytes)
	assert.LessOrEqual(t, e.blocks.mappedBytes(), int64(e.blocks.s.maxSpare())*slabSize, "what stays mapped: the spares")
}
