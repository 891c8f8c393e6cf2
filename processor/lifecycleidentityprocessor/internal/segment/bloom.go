package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

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

// newBloomIn sizes a filter for capacity keys at bitsPerKey bits each, its
// bits in mem, outside the Go heap.
func newBloomIn(mem *offHeap, capacity, bitsPerKey int, k uint8) *bloom {
	if capacity < 1 {
		capacity = 1
	}
	n := bloomWords(capacity, bitsPerKey)
	return &bloom{bits: mem.allocWords(n), m: uint64(n) * 64, k: k, limit: capacity}
}

// freeBits gives the filter's bits back to a, which handed them out, and
// drops them: a filter used after that fails on its nil bits at once
// instead of reading or writing a block that another filter now holds.
func (b *bloom) freeBits(a *slabAlloc) {
	a.free(b.bits)
	b.bits, b.m = nil, 0
}

// bloomWords is how many 64-bit words a filter of capacity keys at
// bitsPerKey bits each takes.
func bloomWords(capacity, bitsPerKey int) int {
	return (capacity*bitsPerKey + 63) / 64
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
