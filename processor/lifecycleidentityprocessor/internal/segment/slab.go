package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"
)

// Per-span state outside the Go heap. The Bloom filters of split traces
// (window.go) and the lists of span digests (digests.go) are what per-span
// state holds, but for a few hundred bytes a trace (93% of a lifecycle
// trace's state at the default max_spans is its 9 filters of 13 KB), and,
// like the trace table (offheap.go), they hold no Go pointer. On the Go heap
// they cost their size again in room for garbage: the collector lets the
// heap grow to twice what it found live (GOGC=100) before it collects. With
// max_state_mib at 64 MiB, 10,000 lifecycle traces took the heap, garbage
// included, to 134-141 MiB while the state counted 64 MiB.
//
// Unlike the table's few large parts, these are many small blocks (32 bytes
// to some tens of KB) that come and go with traces: a mapping each would be
// rounded up to whole pages and soon hit the kernel's limit on mappings per
// process (vm.max_map_count, 65,530 by default). So blocks are carved from
// slabs: mappings of slabSize bytes, each serving one size class for as
// long as it holds a block of it, its free blocks linked through their
// first word. A slab whose blocks are all free becomes a spare, which any
// class can take next: the demand of a class moves (a lifecycle trace's
// digest list grows through some 25 classes, its filters come later), and
// unmapping emptied slabs at once, to map new ones for the next class,
// cost BenchmarkStateBudgetLifecycle 60% more CPU (3.5 s against 2.2, most
// of it the kernel's, zeroing fresh pages). Spares beyond a sixteenth of
// the slabs are unmapped. What segregated classes cost is the free blocks
// of slabs still partly used by their class (up to 25 MiB at the peak of
// that benchmark, whose traces all move from class to class in step). A
// class's last slab goes spare too when it empties: kept for its class, a
// single trace's digest list, growing through the classes, left a slab
// with a page or two written in each (357 KB held for one trace in
// BenchmarkMemorySplit/1x100000 against 245 KB); going spare, the slab
// it leaves serves the next class. A block bigger
// than largeBlock has a mapping of its own, unmapped when freed. Without
// mappings, or when one fails, a slab comes from the Go heap (mapAnon),
// which changes nothing else.

// slabSize is the size of a slab: a mapping per 256 KiB of state, 2,048 at
// the default max_state_mib, few enough; a class barely used holds one.
const slabSize = 256 << 10

// largeBlock is the largest block carved from a slab: a slab of blocks
// bigger than that would waste up to one block at its end.
const largeBlock = slabSize / 8

// sizeClass returns the size class of a block of n words (n >= 1) and the
// words a block of that class holds: n itself up to 8 words, above that n
// rounded up to one of 8 sizes per doubling (9/8, 10/8 ... 16/8 of the
// power of two below), so that a block holds at most 12.5% more than asked
// (a 13,000-byte filter takes 13,312).
func sizeClass(n int) (class, words int) {
	if n <= 8 {
		return n - 1, n
	}
	shift := bits.Len(uint(n-1)) - 4 // n in (8<<shift, 16<<shift]
	q := (n + 1<<shift - 1) >> shift // 9..16
	return 8 + 8*shift + q - 9, q << shift
}

// slabAlloc hands out zeroed blocks of words outside the Go heap and takes
// them back: one per engine. What it still holds when it becomes
// unreachable without release (an engine dropped in a test) is unmapped by
// a cleanup.
type slabAlloc struct {
	s *slabSet
}

// slabSet is what a slabAlloc holds. It is referred to by the slabAlloc
// only, so the cleanup can hold it without keeping the slabAlloc reachable.
type slabSet struct {
	byAddr  []*slab      // every mapping, by address: free finds a block's slab here
	avail   [][]*slab    // by class, the slabs with a free block, highest address first
	spare   []*slab      // slabs of no class, all blocks free
	inUse   int64        // bytes of the blocks handed out and not given back
	touched atomic.Int64 // bytes of the pages blocks were ever handed out in (see held)
	mapped  atomic.Int64 // bytes mapped (atomic: read by tests while a cleanup runs)
	pageLen int
}

// slab is one mapping cut into blocks of one class (noClass while spare).
type slab struct {
	mem     []byte
	class   int
	words   int      // words a block holds
	blocks  int32    // blocks in the slab
	used    int32    // blocks handed out
	fresh   int32    // blocks from here on were never handed out since the slab took its class
	touched int      // bytes from the start of mem in pages a block was ever handed out in
	free    int32    // first free block below fresh, +1 (0: none); the next is in its first word
	live    []uint64 // one bit per block handed out: a block freed twice is caught, not reused twice
}

// noClass is the class of a spare slab, and of a large block's mapping.
const noClass = -1

func newSlabAlloc() *slabAlloc {
	a := &slabAlloc{s: &slabSet{pageLen: os.Getpagesize()}}
	runtime.AddCleanup(a, (*slabSet).releaseAll, a.s)
	return a
}

// alloc returns a zeroed block of at least n words (n >= 1) as a slice of
// length n; its capacity is what the block holds, what the caller counts.
func (a *slabAlloc) alloc(n int) []uint64 {
	s := a.s
	class, words := sizeClass(n)
	if words*8 > largeBlock {
		return s.allocLarge(n)
	}
	if class >= len(s.avail) {
		s.avail = append(s.avail, make([][]*slab, class+1-len(s.avail))...)
	}
	if len(s.avail[class]) == 0 {
		s.avail[class] = append(s.avail[class], s.takeSlab(class, words))
	}
	// The slab of lowest address serves: the others are left to empty and
	// go spare as their traces go (serving the slab freed into last left a
	// few blocks in use in every slab).
	avail := s.avail[class]
	sl := avail[len(avail)-1]
	var i int32
	if sl.free != 0 {
		i = sl.free - 1
		sl.free = int32(sl.block(i)[0])
	} else {
		i = sl.fresh
		sl.fresh++
		s.touch(sl, int(sl.fresh)*words*8)
	}
	b := sl.block(i)
	clear(b) // a spare slab's blocks hold what its last class left
	sl.live[i>>6] |= 1 << (i & 63)
	sl.used++
	if sl.used == sl.blocks {
		s.avail[class] = avail[:len(avail)-1]
	}
	s.inUse += int64(words) * 8
	return b[:n]
}

// allocLarge returns a block of n words in a mapping of its own.
func (s *slabSet) allocLarge(n int) []uint64 {
	length := (n*8 + s.pageLen - 1) / s.pageLen * s.pageLen
	sl := &slab{mem: mapAnon(length), class: noClass, words: length / 8, blocks: 1, used: 1, fresh: 1, live: []uint64{1}}
	s.mapped.Add(int64(length))
	s.touch(sl, length)
	s.insert(sl)
	s.inUse += int64(length)
	return sl.block(0)[:n]
}

// free gives back a block alloc returned. Nothing may use it afterwards: the
// caller drops its slice (a use after free in a mapping would be silent
// corruption, not a crash).
func (a *slabAlloc) free(b []uint64) {
	s := a.s
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	k := s.find(p)
	if k < 0 {
		panic("segment: free of a block no slab holds")
	}
	sl := s.byAddr[k]
	size := uintptr(sl.words) * 8
	off := p - sl.base()
	if off%size != 0 || off/size >= uintptr(sl.fresh) {
		panic("segment: free of a block not handed out")
	}
	i := int32(off / size)
	if sl.live[i>>6]&(1<<(i&63)) == 0 {
		panic("segment: free of a block already free")
	}
	sl.live[i>>6] &^= 1 << (i & 63)
	s.inUse -= int64(size)
	sl.used--
	if sl.class == noClass { // a large block's own mapping
		s.byAddr = slices.Delete(s.byAddr, k, k+1)
		s.unmap(sl)
		return
	}
	sl.block(i)[0] = uint64(sl.free)
	sl.free = i + 1
	class := sl.class // retire takes it away
	avail := s.avail[class]
	if sl.used == sl.blocks-1 { // it was full
		j, _ := slices.BinarySearchFunc(avail, sl.base(), func(x *slab, p uintptr) int {
			if x.base() > p {
				return -1
			}
			return 1
		})
		avail = slices.Insert(avail, j, sl)
	}
	if sl.used == 0 {
		avail = slices.DeleteFunc(avail, func(x *slab) bool { return x == sl })
		s.retire(k)
	}
	s.avail[class] = avail
}

// maxSpare is how many empty slabs s keeps for any class to take, beyond
// which they are unmapped: an eighth of its slabs, at least 4.
func (s *slabSet) maxSpare() int { return max(4, len(s.byAddr)/16) }

// takeSlab returns an empty slab for class: a spare, or a new mapping.
func (s *slabSet) takeSlab(class, words int) *slab {
	var sl *slab
	if n := len(s.spare); n > 0 {
		sl = s.spare[n-1]
		s.spare = s.spare[:n-1]
	} else {
		sl = &slab{mem: mapAnon(slabSize)}
		s.mapped.Add(slabSize)
		s.insert(sl)
	}
	blocks := slabSize / (words * 8)
	sl.class, sl.words, sl.blocks, sl.used, sl.fresh, sl.free = class, words, int32(blocks), 0, 0, 0
	sl.live = slices.Grow(sl.live[:0], (blocks+63)/64)[:(blocks+63)/64]
	clear(sl.live)
	return sl
}

// retire makes the empty slab byAddr[k] a spare, or unmaps it if there
// are enough.
func (s *slabSet) retire(k int) {
	sl := s.byAddr[k]
	if len(s.spare) < s.maxSpare() {
		sl.class = noClass
		s.spare = append(s.spare, sl)
		return
	}
	s.byAddr = slices.Delete(s.byAddr, k, k+1)
	s.unmap(sl)
}

// insert adds a new mapping to byAddr.
func (s *slabSet) insert(sl *slab) {
	k, _ := slices.BinarySearchFunc(s.byAddr, sl.base(), func(x *slab, p uintptr) int {
		if x.base() < p {
			return -1
		}
		return 1
	})
	s.byAddr = slices.Insert(s.byAddr, k, sl)
}

// find returns the index in byAddr of the mapping holding address p, or -1.
func (s *slabSet) find(p uintptr) int {
	k, _ := slices.BinarySearchFunc(s.byAddr, p, func(sl *slab, p uintptr) int {
		if sl.base() <= p {
			return -1
		}
		return 1
	})
	if k == 0 || p-s.byAddr[k-1].base() >= uintptr(len(s.byAddr[k-1].mem)) {
		return -1
	}
	return k - 1
}

// allocDigests returns an empty list with room for at least n 32-bit
// digests (n >= 1): a block of words, two digests each.
func (a *slabAlloc) allocDigests(n int) []uint32 {
	b := a.alloc((n + 1) / 2)
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), 2*cap(b))[:0]
}

// freeDigests gives back the block of a list allocDigests returned (none
// for a nil list). Nothing may use the list afterwards.
func (a *slabAlloc) freeDigests(l []uint32) {
	if cap(l) > 0 {
		a.free(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(l))), cap(l)/2))
	}
}

// release gives back everything a handed out, and leaves it empty, ready
// for use. Nothing may use a block it handed out afterwards.
func (a *slabAlloc) release() { a.s.releaseAll() }

// held is the memory a holds: every page of its mappings a block was ever
// handed out in, the blocks in use, the free ones and the spare slabs'.
// Those pages are resident (alloc clears every block it hands out) until
// unmapped. The rest of a slab was never written and takes address space,
// not memory: a class that served a handful of blocks (a single trace's
// digest list growing through it) holds their pages, not 256 KiB.
func (a *slabAlloc) held() int64 { return a.s.touched.Load() }

// mappedBytes is the address space a's mappings take.
func (a *slabAlloc) mappedBytes() int64 { return a.s.mapped.Load() }

// touch records that sl's blocks up to byte end were handed out.
func (s *slabSet) touch(sl *slab, end int) {
	end = (end + s.pageLen - 1) / s.pageLen * s.pageLen
	if end > sl.touched {
		s.touched.Add(int64(end - sl.touched))
		sl.touched = end
	}
}

// inUse is the memory of the blocks handed out and not given back.
func (a *slabAlloc) inUse() int64 { return a.s.inUse }

func (s *slabSet) unmap(sl *slab) {
	s.mapped.Add(-int64(len(sl.mem)))
	s.touched.Add(-int64(sl.touched))
	unmapAnon(sl.mem)
	sl.mem = nil
}

func (s *slabSet) releaseAll() {
	for _, sl := range s.byAddr {
		s.unmap(sl)
	}
	s.byAddr, s.avail, s.spare, s.inUse = nil, nil, nil, 0
}

func (sl *slab) base() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(sl.mem))) }

// block returns block i of the slab, all of its words.
func (sl *slab) block(i int32) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(&sl.mem[int(i)*sl.words*8])), sl.words)
}
