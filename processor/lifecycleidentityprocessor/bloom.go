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
	if capacity < 1 {
		capacity = 1
	}
	m := (uint64(capacity)*uint64(bitsPerKey) + 63) / 64 * 64
	return &bloom{bits: make([]uint64, m/64), m: m, k: k, limit: capacity}
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

// layeredBloom is a scalable Bloom filter: when the newest layer is full a
// layer of twice its capacity is added, so memory grows with the number of
// keys (about 1.75 to 3.5 bytes per key) and a lookup costs O(log keys).
type layeredBloom struct {
	layers []*bloom
	first  int
}

func (l *layeredBloom) add(key uint64) {
	n := len(l.layers)
	if n == 0 || l.layers[n-1].full() {
		c := l.first
		if n > 0 {
			c = l.layers[n-1].limit * 2
		}
		l.layers = append(l.layers, newBloom(c, spanBloomBitsPerKey, spanBloomProbes))
		n++
	}
	l.layers[n-1].add(mix64(key))
}

func (l *layeredBloom) has(key uint64) bool {
	h := mix64(key)
	for _, b := range l.layers {
		if b.has(h) {
			return true
		}
	}
	return false
}

// evictedSet remembers which traces had their state dropped, so that a trace
// that continues afterwards opens a fresh segment instead of growing one that
// may be closed. Two generations of fixed size rotate: it remembers at least
// the last `capacity` evictions and at most twice as many, in fixed memory
// (24 bits per remembered trace, about 0.003% false positives: a false
// positive renames a brand-new trace, so it is kept rare).
type evictedSet struct {
	cur, prev *bloom
}

func newEvictedSet(capacity int) *evictedSet {
	return &evictedSet{
		cur:  newBloom(capacity, 24, 12),
		prev: newBloom(capacity, 24, 12),
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
