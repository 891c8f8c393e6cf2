package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"unsafe"
)

// The state's memory, for split.max_state_mib and the state_bytes gauge:
// what the trace table holds outside the Go heap (slots, index, evicted
// set: offheap.go), plus what per-span state holds, counted by the capacity
// of its parts (maps by entries, mapEntryBytes each; a filter's bits by the
// block its slab holds for it, slab.go, not by the bits it uses). The
// digest lists (the middle tier, the current segment's) are counted as they
// grow; the rest of a trace's per-span state when it begins and at each
// segment it closes (account), so the open parents named within the
// current segment are counted when it closes.
//
// The free blocks of the slabs, and the ends of slabs too short for a
// block, belong to no trace and are not counted: evicting a trace gives
// its blocks back to their slabs, and if the budget counted what the slabs
// map, an eviction would often lower it by nothing and the engine would
// evict trace after trace. They are in OffHeapBytes.

// mapEntryBytes is what one entry of a map of uint64 keys takes, about.
const mapEntryBytes = 24

// digestBytes is what a digest list of capacity digests holds.
func digestBytes(capacity int) int64 { return int64(capacity) * 4 }

// heldBytes is what d holds, its current segment's digest list included,
// as last counted.
func (d *splitState) heldBytes() int64 { return d.bytes + digestBytes(cap(d.seenCur)) }

// HeldBytes is the memory the state takes now.
func (e *Engine) HeldBytes() int64 {
	return e.table.mem.held() + e.spanStateBytes + int64(cap(e.named.entries))*int64(unsafe.Sizeof(namedEntry{}))
}

// OffHeapBytes is the memory held outside the Go heap: the trace table's
// mappings, and the pages of the slabs that blocks were handed out in
// (slabAlloc.held), their free blocks included, which HeldBytes does not
// count.
func (e *Engine) OffHeapBytes() int64 { return e.table.mem.held() + e.blocks.held() }

// FixedBytes is what the trace table takes outside the Go heap once it has
// tracked maxTraces traces and evicted one: its slots, its index and the
// set of evicted traces. That memory never shrinks and no eviction frees
// it, so a byte budget at or under it would have every new trace evict all
// the others, for good; the config refuses such a budget.
func FixedBytes(maxTraces int) int64 {
	chunks := (maxTraces + chunkSize - 1) / chunkSize
	entries := minIndexSize
	for overFull(maxTraces, entries) {
		entries *= 2
	}
	evicted := 2 * bloomWords(max(maxTraces, minEvictedMemory), evictedBitsPerKey)
	return int64(chunks)*int64(unsafe.Sizeof([chunkSize]traceState{})) + int64(entries)*4 + int64(evicted)*8
}

func (e *Engine) overBudget() bool {
	return e.maxBytes > 0 && e.HeldBytes() > e.maxBytes
}

// account brings the count of what d holds (but its digest list, counted as
// it grows) up to date.
func (e *Engine) account(d *splitState) {
	n := d.size()
	e.spanStateBytes += n - d.bytes
	d.bytes = n
}

// size is what d holds but its digest list.
func (d *splitState) size() int64 {
	n := int(unsafe.Sizeof(*d)) + len(d.pendingCur)*mapEntryBytes
	if x := d.splitExtra; x != nil {
		n += int(unsafe.Sizeof(*x)) + len(x.originHex) + x.closed.bytes() + cap(x.counts)*4 +
			len(x.pendingClosed)*mapEntryBytes + cap(x.pendingOrder)*8 + cap(x.scratch)*8
	}
	return int64(n)
}

// bytes is the memory the window holds: the ring, the filter pointers and the
// filters (struct, and the block of their bits: its capacity).
func (w *closedWindow) bytes() int {
	n := cap(w.gens) * int(unsafe.Sizeof(generation{}))
	for i := range w.gens {
		n += cap(w.gens[i].filters) * int(unsafe.Sizeof((*bloom)(nil)))
		for _, b := range w.gens[i].filters {
			n += cap(b.bits)*8 + int(unsafe.Sizeof(bloom{}))
		}
	}
	return n
}

// TraceBytes is what the per-span state of trace t holds (0 for a trace in
// its prefix), on the heap and in slabs, and whether t is tracked.
func (e *Engine) TraceBytes(t TraceID) (int64, bool) {
	i, ok := e.table.get(t)
	if !ok {
		return 0, false
	}
	ts := e.table.at(i)
	if d := e.detail(ts); d != nil {
		e.account(d)
		return d.heldBytes(), true
	}
	if m, ok := midIndex(ts.tier); ok {
		return digestBytes(cap(e.mids.at(m).digests)), true
	}
	return 0, true
}
