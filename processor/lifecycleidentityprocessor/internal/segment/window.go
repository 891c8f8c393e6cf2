package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Sizing of the per-trace filter of span IDs in closed segments: 13 bits and
// 7 probes per key give about 0.22% false positives per full filter (14
// bits gave 0.15%; the bit less is part of halving what a split trace
// holds, issue 13).
const (
	spanBloomBitsPerKey = 13
	spanBloomProbes     = 7
)

// The window of closed segments. A trace that splits remembers the span IDs
// of its closed segments (to re-root a child whose parent is in one) only for
// its most recent closed segments: a lifecycle trace never goes idle, so
// remembering all of them would grow without bound. The window is a ring of
// generations, each holding the span IDs of genSegments consecutive
// segments (by index) in its own Bloom filter; when a segment opens a new
// generation and the ring is full, the oldest generation is forgotten and its
// filter reused. windowGens generations cover at least windowSegments closed
// segments (windowSegments plus the part of the newest generation closed so
// far).
//
// 32 segments of 4 per generation (9 generations): 64,000 spans back at the
// default max_spans, and a trace that closed one segment holds a filter for
// 4 segments, not 8. (It was 64 segments of 8: a lifecycle trace held 263 KB
// and a trace that closed segment 0 once 39 KB; issue 13 asked for half.)
const (
	windowSegments = 32
	genSegments    = 4
	windowGens     = windowSegments/genSegments + 1
	minGenKeys     = 64 // smallest filter of a generation (104 bytes)
)

// closedWindow is the ring of generations of one trace.
type closedWindow struct {
	gens   []generation // group g lives at gens[g % len(gens)]
	newest int          // index of the newest generation
}

// generation holds the span digests of segments group*genSegs up to
// (group+1)*genSegs - 1, and of the late parents that arrived while it was
// the newest. Its first filter is sized when it opens, for genSegs segments
// like the one closing then (at most genSegs x max_spans keys: 13 KB at the
// default). A filter takes 12.5% more keys than it was sized for (about
// 0.25% false positives then) before the next one, as big as all before it,
// is chained: late parents rarely cost one; a trace whose segments grow
// within a generation (max_age splits as traffic rises) chains a few.
// A generation with no filter is empty (not yet used).
type generation struct {
	group   uint64
	filters []*bloom
}

func (g *generation) live() bool { return len(g.filters) > 0 }

// open makes group the newest generation, if it is not already, with a first
// filter sized for hint keys, its bits from a. A generation of an older group
// in its slot is forgotten and its group returned; one of its filters is
// reused if large enough, the others are given back to a (in steady state
// the first one fits the next generation, and a filter too small for it
// would be held for nothing).
func (w *closedWindow) open(a *slabAlloc, group uint64, gens, hint int) (old uint64, forgot bool) {
	if w.gens == nil {
		w.gens = make([]generation, gens)
	} else if g := &w.gens[w.newest]; g.live() && g.group == group {
		return 0, false
	}
	w.newest = int(group % uint64(len(w.gens)))
	g := &w.gens[w.newest]
	if g.live() {
		old, forgot = g.group, true
	}
	b := newFilter(a, hint, g.filters) // the forgotten generation's filters, if any
	for _, f := range g.filters {
		if f != b {
			f.freeBits(a)
		}
	}
	clear(g.filters)
	g.group, g.filters = group, append(g.filters[:0], b)
	return old, forgot
}

// newFilter returns an empty filter for capacity keys: the first of spares
// whose bits are large enough, reset, or a new one with its bits from a.
// Its bits are exactly as many as capacity asks, whatever the block holds,
// so that its false positives, and with them every decision, are the same
// wherever the bits live.
func newFilter(a *slabAlloc, capacity int, spares []*bloom) *bloom {
	capacity = max(capacity, minGenKeys)
	words := bloomWords(capacity, spanBloomBitsPerKey)
	for _, b := range spares {
		if cap(b.bits) >= words {
			b.bits = b.bits[:words]
			clear(b.bits)
			b.m, b.n, b.limit = uint64(words)*64, 0, capacity
			return b
		}
	}
	return &bloom{bits: a.alloc(words), m: uint64(words) * 64, k: spanBloomProbes, limit: capacity}
}

// add records key in the newest generation (open was called before); a
// chained filter takes its bits from a.
func (w *closedWindow) add(a *slabAlloc, key uint64) {
	g := &w.gens[w.newest]
	b := g.filters[len(g.filters)-1]
	if b.n >= b.limit+b.limit/8 {
		total := 0
		for _, f := range g.filters {
			total += f.limit
		}
		b = newFilter(a, total, nil) // doubling: few filters to ask, whatever the growth
		g.filters = append(g.filters, b)
	}
	b.add(mix64(key))
}

// release gives the bits of every filter back to a: the trace's state is
// being dropped.
func (w *closedWindow) release(a *slabAlloc) {
	for i := range w.gens {
		for _, f := range w.gens[i].filters {
			f.freeBits(a)
		}
		clear(w.gens[i].filters)
		w.gens[i].filters = w.gens[i].filters[:0]
	}
}

// has reports whether key may be in a generation of the window.
func (w *closedWindow) has(key uint64) bool {
	h := mix64(key)
	for i := range w.gens {
		for _, b := range w.gens[i].filters {
			if b.has(h) {
				return true
			}
		}
	}
	return false
}
