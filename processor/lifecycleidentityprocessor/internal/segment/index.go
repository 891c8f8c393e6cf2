package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"encoding/binary"
)

// traceIndex maps trace IDs to traceTable slots: open addressing with linear
// probing and backward-shift deletion, so constant eviction and insertion
// leave no tombstones behind (Go maps slow down under that churn). Each
// entry is 8 bytes: the low 32 bits of the trace ID's hash (its home
// position and a fingerprint) and slot+1 (0 marks an empty entry). The load
// stays at or under four fifths: at the default max_traces of 100,000 the
// index holds 131,072 entries (1 MiB) instead of the 262,144 a load of one
// half takes, and a lookup reads a few more consecutive 8-byte entries
// (BenchmarkNeverSplit did not tell the two apart).
type traceIndex struct {
	mem     *offHeap // where entries live
	entries []uint64
	mask    uint64
	n       int
}

const minIndexSize = 1024

func indexHash(t TraceID) uint32 {
	return uint32(mix64(binary.LittleEndian.Uint64(t[:8]) ^ binary.LittleEndian.Uint64(t[8:])))
}

func newTraceIndex(mem *offHeap) traceIndex {
	return traceIndex{mem: mem, entries: mem.allocEntries(minIndexSize), mask: minIndexSize - 1}
}

func entryOf(h uint32, slot int32) uint64 { return uint64(h)<<32 | uint64(uint32(slot+1)) }
func entrySlot(e uint64) int32            { return int32(uint32(e)) - 1 }
func entryHash(e uint64) uint32           { return uint32(e >> 32) }

// find returns the position of t in entries, or -1.
func (x *traceIndex) find(t TraceID, tab *traceTable) int {
	h := indexHash(t)
	for i := uint64(h) & x.mask; ; i = (i + 1) & x.mask {
		e := x.entries[i]
		if e == 0 {
			return -1
		}
		if entryHash(e) == h && tab.at(entrySlot(e)).id == t {
			return int(i)
		}
	}
}

func (x *traceIndex) get(t TraceID, tab *traceTable) (int32, bool) {
	if i := x.find(t, tab); i >= 0 {
		return entrySlot(x.entries[i]), true
	}
	return 0, false
}

// put adds t, which must not be present.
func (x *traceIndex) put(t TraceID, slot int32) {
	if 5*(x.n+1) > 4*len(x.entries) {
		x.grow()
	}
	x.place(entryOf(indexHash(t), slot))
	x.n++
}

func (x *traceIndex) place(e uint64) {
	i := uint64(entryHash(e)) & x.mask
	for x.entries[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.entries[i] = e
}

func (x *traceIndex) grow() {
	old := x.entries
	x.entries = x.mem.allocEntries(2 * len(old))
	x.mask = uint64(len(x.entries) - 1)
	for _, e := range old {
		if e != 0 {
			x.place(e)
		}
	}
	x.mem.freeEntries(old)
}

// del removes t if present.
func (x *traceIndex) del(t TraceID, tab *traceTable) {
	p := x.find(t, tab)
	if p < 0 {
		return
	}
	i := uint64(p)
	for j := (i + 1) & x.mask; x.entries[j] != 0; j = (j + 1) & x.mask {
		k := uint64(entryHash(x.entries[j])) & x.mask // home of the entry at j
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if (i < j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			x.entries[i] = x.entries[j]
			i = j
		}
	}
	x.entries[i] = 0
	x.n--
}
