package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Outside the Go heap. Every tracked trace holds a slot in the trace table
// and an entry in its index (about 62 bytes, table.go, index.go),
// 6.2 MB at the default max_traces of 100,000, which the table reaches within
// 20 s at 5,000 new traces a second. On the Go heap that state doubles its
// cost in memory: the garbage collector lets the heap grow to twice what was
// live after the last collection (GOGC=100) before it collects again, so
// long-lived state there costs its size again in room for garbage, about
// 18 MB of resident memory at the default instead of 9 (the testbed's steady
// scenario measured it). Neither structure holds a Go pointer, so they live
// in anonymous memory mappings instead: resident for what they use, never
// scanned, never counted in the heap goal. memory_limiter, which reads the
// heap, no longer sees them either, which is what DESIGN.md asks of this
// state: bounded by max_traces, it must never push memory_limiter into
// refusing every tenant. Without mappings (or when one fails) the memory
// comes from the Go heap, as before.

// offHeap hands out zeroed, pointer-free memory outside the Go heap and
// takes it back: one per trace table. What it still holds when it becomes
// unreachable without release (a table dropped in a test) is unmapped by a
// cleanup.
type offHeap struct {
	m *offHeapMaps
}

// offHeapMaps is what an offHeap mapped, by address of the first byte. It
// is referred to by the offHeap only, so the cleanup can hold it without
// keeping the offHeap reachable.
type offHeapMaps struct {
	maps map[uintptr][]byte
	size atomic.Int64 // bytes in maps (atomic: read by tests while a cleanup runs)
}

func newOffHeap() *offHeap {
	o := &offHeap{m: &offHeapMaps{maps: make(map[uintptr][]byte)}}
	runtime.AddCleanup(o, (*offHeapMaps).releaseAll, o.m)
	return o
}

// alloc returns size zeroed bytes, page-aligned when mapped.
func (o *offHeap) alloc(size int) unsafe.Pointer {
	b := mapAnon(size)
	p := unsafe.Pointer(unsafe.SliceData(b))
	o.m.maps[uintptr(p)] = b
	o.m.size.Add(int64(len(b)))
	return p
}

// free gives back memory alloc returned. Nothing may use it afterwards.
func (o *offHeap) free(p unsafe.Pointer) {
	if b, ok := o.m.maps[uintptr(p)]; ok {
		delete(o.m.maps, uintptr(p))
		o.m.size.Add(-int64(len(b)))
		unmapAnon(b)
	}
}

// release gives back everything o handed out. Nothing may use it afterwards.
func (o *offHeap) release() { o.m.releaseAll() }

func (m *offHeapMaps) releaseAll() {
	for p, b := range m.maps {
		delete(m.maps, p)
		m.size.Add(-int64(len(b)))
		unmapAnon(b)
	}
}

// held is the memory o holds.
func (o *offHeap) held() int64 { return o.m.size.Load() }

// allocChunk returns a zeroed chunk of trace slots.
func (o *offHeap) allocChunk() *[chunkSize]traceState {
	return (*[chunkSize]traceState)(o.alloc(int(unsafe.Sizeof([chunkSize]traceState{}))))
}

// allocWords returns n zeroed 64-bit words (the evicted set's bits).
func (o *offHeap) allocWords(n int) []uint64 {
	return unsafe.Slice((*uint64)(o.alloc(n*8)), n)
}

// allocIndexEntries returns n zeroed entries of the trace index.
func (o *offHeap) allocIndexEntries(n int) []uint32 {
	return unsafe.Slice((*uint32)(o.alloc(n*4)), n)
}

// freeIndexEntries gives back entries allocIndexEntries returned.
func (o *offHeap) freeIndexEntries(e []uint32) {
	o.free(unsafe.Pointer(unsafe.SliceData(e)))
}
