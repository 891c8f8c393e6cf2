package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import "math/bits"

// bloom is a Bloom filter over 64-bit keys: no false negatives, false
// positives at a rate set by its size. Its methods take the key already
// mixed (mix64), so that the wrappers below, which ask several filters about
// one key, mix it once. The processor only asks it questions
// where a false "yes" costs an extra re-root (with its link) or a fresh
// segment, never a lost span.
type bloom struct {
	bits  []uint64
	m     uint64 // number of bits, a multiple of 64
	k     uint8  // probes per key
	n     int    // keys added
	limit int    // keys it was sized for
}

// newBloom sizes a filter for capacity keys at bitsPerKey bits each.
func newBloom(capacity, bitsPerKey int, k uint8) *bloom {
	return newBloomIn(nil, capacity, bitsPerKey, k)
}

// newBloomIn is newBloom with its bits in mem, outside the Go heap, unless
// mem is nil.
func newBloomIn(mem *offHeap, capacity, bitsPerKey int, k uint8) *bloom {
	if capacity < 1 {
		capacity = 1
	}
	m := (uint64(capacity)*uint64(bitsPerKey) + 63) / 64 * 64
	var words []uint64
	if mem != nil {
		words = mem.allocEntries(int(m / 64))
	} else {
		words = make([]uint64, m/64)
	}
	return &bloom{bits: words, m: m, k: k, limit: capacity}
}

func (b *bloom) add(h uint64) {
	h1, h2 := h, (h<<32|h>>32)|1
	for i := uint8(0); i < b.k; i++ {
		p, _ := bits.Mul64(h1, b.m) // h1 scaled to [0, m): no power-of-two rounding
		b.bits[p>>6] |= 1 << (p & 63)
		h1 += h2
	}
	b.n++
}

func (b *bloom) has(h uint64) bool {
	h1, h2 := h, (h<<32|h>>32)|1
	for i := uint8(0); i < b.k; i++ {
		p, _ := bits.Mul64(h1, b.m)
		if b.bits[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}

func (b *bloom) full() bool { return b.n >= b.limit }

func (b *bloom) reset() {
	clear(b.bits)
	b.n = 0
}

// Sizing of the per-trace filter of span IDs in closed segments: 14 bits and
// 7 probes per key give about 0.15% false positives per full layer.
const (
	spanBloomBitsPerKey = 14
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
const (
	windowSegments = 64
	genSegments    = 8
	windowGens     = windowSegments/genSegments + 1
	minGenKeys     = 64 // smallest filter of a generation (112 bytes)
)

// windowShape is the shape of the window: segments per generation and
// generations. A variable so tests can narrow it (the splitter copies it).
var windowShape = windowConfig{genSegments, windowGens}

type windowConfig struct {
	genSegs uint64
	gens    int
}

// closedWindow is the ring of generations of one trace.
type closedWindow struct {
	gens   []generation // group g lives at gens[g % len(gens)]
	newest int          // index of the newest generation
}

// generation holds the span digests of segments group*genSegs up to
// (group+1)*genSegs - 1, and of the late parents that arrived while it was
// the newest. Its first filter is sized when it opens, for genSegs segments
// like the one closing then (at most genSegs x max_spans keys: 28 KB at the
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
// filter sized for hint keys. A generation of an older group in its slot is
// forgotten and its group returned; one of its filters is reused if large
// enough, the others are dropped (in steady state the first one fits the
// next generation, and a filter too small for it would be held for nothing).
func (w *closedWindow) open(group uint64, gens, hint int) (old uint64, forgot bool) {
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
	b := newFilter(hint, g.filters) // the forgotten generation's filters, if any
	clear(g.filters)
	g.group, g.filters = group, append(g.filters[:0], b)
	return old, forgot
}

// newFilter returns an empty filter for capacity keys: the first of spares
// whose bits are large enough, reset, or a new one.
func newFilter(capacity int, spares []*bloom) *bloom {
	capacity = max(capacity, minGenKeys)
	words := (capacity*spanBloomBitsPerKey + 63) / 64
	for _, b := range spares {
		if cap(b.bits) >= words {
			b.bits = b.bits[:words]
			clear(b.bits)
			b.m, b.n, b.limit = uint64(words)*64, 0, capacity
			return b
		}
	}
	return newBloom(capacity, spanBloomBitsPerKey, spanBloomProbes)
}

// add records key in the newest generation (open was called before).
func (w *closedWindow) add(key uint64) {
	g := &w.gens[w.newest]
	b := g.filters[len(g.filters)-1]
	if b.n >= b.limit+b.limit/8 {
		total := 0
		for _, f := range g.filters {
			total += f.limit
		}
		b = newFilter(total, nil) // doubling: few filters to ask, whatever the growth
		g.filters = append(g.filters, b)
	}
	b.add(mix64(key))
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

// evictedSet remembers which traces had their state dropped, so that a trace
// that continues afterwards opens a fresh segment instead of growing one that
// may be closed. Two generations of fixed size rotate: it remembers at least
// the last `capacity` evictions and at most twice as many, in fixed memory
// (24 bits per remembered trace, about 0.003% false positives: a false
// positive renames a brand-new trace, so it is kept rare). Its bits
// (600 KB at the default max_traces) live outside the Go heap, in mem, with
// the trace table's (offheap.go).
type evictedSet struct {
	cur, prev *bloom
}

func newEvictedSet(mem *offHeap, capacity int) *evictedSet {
	return &evictedSet{
		cur:  newBloomIn(mem, capacity, 24, 12),
		prev: newBloomIn(mem, capacity, 24, 12),
	}
}

func (e *evictedSet) add(h uint64) {
	if e.cur.full() {
		e.cur, e.prev = e.prev, e.cur
		e.cur.reset()
	}
	e.cur.add(mix64(h))
}

func (e *evictedSet) has(h uint64) bool {
	m := mix64(h)
	return e.cur.has(m) || e.prev.has(m)
}

// restartedSet remembers, for traces whose state was dropped while they were
// in a continuation segment, the last segment they used, so that a further
// continuation starts beyond it. Two generations of maps rotate: it remembers
// at least the last `capacity` such evictions (entries are added only for
// continuations, rare next to evictions of ordinary traces).
type restartedSet struct {
	cur, prev map[uint64]uint64
	capacity  int
}

func newRestartedSet(capacity int) *restartedSet {
	return &restartedSet{cur: map[uint64]uint64{}, capacity: capacity}
}

func (r *restartedSet) add(h, seg uint64) {
	if len(r.cur) >= r.capacity {
		r.cur, r.prev = map[uint64]uint64{}, r.cur
	}
	r.cur[h] = max(seg, r.cur[h])
}

func (r *restartedSet) last(h uint64) (uint64, bool) {
	a, ok := r.cur[h]
	b, ok2 := r.prev[h]
	return max(a, b), ok || ok2
}
