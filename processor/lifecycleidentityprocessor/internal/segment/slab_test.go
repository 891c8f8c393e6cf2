package segment

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSizeClass(t *testing.T) {
	lastClass, lastWords := -1, 0
	for n := 1; n <= 1<<16; n++ {
		class, words := sizeClass(n)
		require.GreaterOrEqual(t, words, n)
		require.LessOrEqual(t, words-n, n/8, "at most 12.5%% more than asked for %d words", n)
		if words == lastWords {
			require.Equal(t, lastClass, class, "%d words", n)
			continue
		}
		require.Equal(t, lastClass+1, class, "one class per block size, in order (%d words)", n)
		lastClass, lastWords = class, words
	}
	_, w := sizeClass(1625) // a filter of 8,000 keys at 13 bits
	assert.Equal(t, 1664, w)
}

func TestSlabAllocFreeReuse(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	b := a.alloc(100)
	require.Len(t, b, 100)
	_, words := sizeClass(100)
	require.Equal(t, words, cap(b), "the capacity is what the block holds")
	assert.Equal(t, int64(words*8), a.inUse())
	assert.Equal(t, int64(slabSize), a.mappedBytes())
	assert.Equal(t, int64(a.s.pageLen), a.held(), "the page the block was handed out in, not the whole slab")
	for i := range b[:cap(b)] {
		b[:cap(b)][i] = ^uint64(0)
	}
	a.free(b)
	assert.Zero(t, a.inUse())
	c := a.alloc(100)
	require.Equal(t, &b[0], &c[0], "the block freed is handed out again")
	for _, w := range c[:cap(c)] {
		require.Zero(t, w, "and comes zeroed")
	}

	// Other blocks of the class come from the same slab, one after another.
	d := a.alloc(99)
	assert.Equal(t, words*8, int(uintptrOf(d)-uintptrOf(c)))
	assert.Equal(t, int64(slabSize), a.mappedBytes())
	assert.Equal(t, int64(a.s.pageLen), a.held(), "both blocks in the first page")

	assert.PanicsWithValue(t, "segment: free of a block already free", func() {
		a.free(d)
		a.free(d)
	})
	assert.PanicsWithValue(t, "segment: free of a block not handed out", func() { a.free(c[1:]) })
	assert.PanicsWithValue(t, "segment: free of a block no slab holds", func() { a.free(make([]uint64, 4)) })
}

// TestSlabEmptiedServesAnotherClass: a slab whose blocks all went back
// serves the next class that needs one, without a new mapping; spares
// beyond maxSpare are unmapped.
func TestSlabEmptiedServesAnotherClass(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	const words = 1664 // 13,312 bytes: 19 blocks a slab
	perSlab := slabSize / (words * 8)
	var blocks [][]uint64
	for range 3 * perSlab { // three full slabs
		blocks = append(blocks, a.alloc(words))
	}
	require.Equal(t, int64(3*slabSize), a.mappedBytes())
	held := a.held()
	page := a.s.pageLen
	require.Equal(t, int64(3*((perSlab*words*8+page-1)/page*page)), held, "the pages of the blocks, not the slab's end too short for one")
	for _, b := range blocks[:2*perSlab] { // two of them empty: spares
		a.free(b)
	}
	assert.Equal(t, held, a.held(), "the pages of free blocks are still held")
	require.Len(t, a.s.spare, 2)
	other := a.alloc(40)
	assert.Len(t, a.s.spare, 1, "another class takes a spare")
	assert.Equal(t, int64(3*slabSize), a.mappedBytes(), "no new mapping")
	assert.Equal(t, held, a.held(), "nor a new page")
	a.free(other)

	// Many slabs emptied at once: beyond the spares kept, unmapped.
	blocks = blocks[:0]
	for range 40 * perSlab {
		blocks = append(blocks, a.alloc(words))
	}
	before := a.mappedBytes()
	for _, b := range blocks {
		a.free(b)
	}
	assert.Less(t, a.mappedBytes(), before/4, "most of what went back is unmapped")
	assert.LessOrEqual(t, a.held(), a.mappedBytes())
	assert.LessOrEqual(t, len(a.s.spare), a.s.maxSpare())
}

func TestSlabLargeBlock(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	b := a.alloc(largeBlock/8 + 1)
	pages := int64((largeBlock+8+a.s.pageLen-1)/a.s.pageLen) * int64(a.s.pageLen)
	assert.Equal(t, pages, a.mappedBytes(), "a mapping of its own, whole pages")
	assert.Equal(t, pages, a.held())
	assert.Equal(t, pages, int64(cap(b))*8, "its capacity is what the mapping holds")
	assert.Equal(t, pages, a.inUse())
	b[len(b)-1] = 7
	a.free(b)
	assert.Zero(t, a.mappedBytes(), "unmapped when freed")
	assert.Zero(t, a.held())
	assert.Zero(t, a.inUse())
}

func TestSlabDigests(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	l := a.allocDigests(9)
	require.Empty(t, l)
	require.Equal(t, 10, cap(l), "5 words, two digests each")
	l = append(l, 1, 2, 3)
	assert.Equal(t, int64(cap(l))*4, a.inUse())
	a.freeDigests(l)
	a.freeDigests(nil) // nothing to give back
	assert.Zero(t, a.inUse())
}

func TestSlabReleaseAndReuse(t *testing.T) {
	a := newSlabAlloc()
	for n := 1; n < 3000; n += 97 {
		a.alloc(n)
	}
	require.Positive(t, a.held())
	a.release()
	assert.Zero(t, a.held())
	assert.Zero(t, a.mappedBytes())
	assert.Zero(t, a.inUse())
	b := a.alloc(10) // usable again, as the engine is after Reset
	a.free(b)
	a.release()
	a.release() // twice is harmless
	assert.Zero(t, a.held())
}

func TestSlabUnreachableIsUnmapped(t *testing.T) {
	var s *slabSet
	func() {
		a := newSlabAlloc()
		a.alloc(1000)
		s = a.s // the cleanup's argument: reachable, the slabAlloc is not
	}()
	assertCleanupUnmaps(t, s.mapped.Load)
}

func uintptrOf(b []uint64) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
