package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"encoding/binary"
)

// traceIndex maps trace IDs to traceTable slots: open addressing with linear
// probing and backward-shift deletion, so constant eviction and insertion
// leave no tombstones behind (Go maps slow down under that churn). Entries
// are placed Robin Hood style: an entry takes the place of one nearer its
// own home, so along a run entries are ordered by distance from home, and a
// lookup of an ID that is absent stops at the first entry nearer its home
// than the lookup has gone. That is the lookup of every new trace: at four
// fifths full, plain linear probing read about 9 entries (two cache lines,
// often) before an empty one; Robin Hood stops after 3 (measured at
// 100,000 traces). Each entry is 8 bytes: the low 32 bits of the trace ID's
// hash (its home position and a fingerprint) and slot+1 (0 marks an empty
// entry). The load stays at or under four fifths: at the default
// max_traces of 100,000 the index holds 131,072 entries (1 MiB) instead of
// the 262,144 a load of one half takes, and a lookup reads a few more
// consecutive 8-byte entries (BenchmarkNeverSplit did not tell the two
// apart).
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

// dist is how far position i is from the home of entry e.
func (x *traceIndex) dist(e, i uint64) uint64 {
	return (i - uint64(entryHash(e))) & x.mask
}

// find returns the position of t in entries, or -1.
func (x *traceIndex) find(t TraceID, tab *traceTable) int {
	h := indexHash(t)
	i := uint64(h) & x.mask
	for d := uint64(0); ; d++ {
		e := x.entries[i]
		if e == 0 || x.dist(e, i) < d {
			return -1 // t would be here, or before
		}
		if entryHash(e) == h && tab.at(entrySlot(e)).id == t {
			return int(i)
		}
		i = (i + 1) & x.mask
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
	if overFull(x.n+1, len(x.entries)) {
		x.grow()
	}
	x.place(entryOf(indexHash(t), slot))
	x.n++
}

// overFull says whether n entries fill more than four fifths of an index of
// size entries, the load the index keeps under by growing.
func overFull(n, entries int) bool { return 5*n > 4*entries }

// place puts e in its run, before the first entry nearer its own home,
// which moves on in turn.
func (x *traceIndex) place(e uint64) {
	i := uint64(entryHash(e)) & x.mask
	for d := uint64(0); ; d++ {
		cur := x.entries[i]
		if cur == 0 {
			x.entries[i] = e
			return
		}
		if cd := x.dist(cur, i); cd < d {
			x.entries[i], e, d = e, cur, cd
		}
		i = (i + 1) & x.mask
	}
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
	// The entries after the hole move back one, up to an empty one or one
	// at its home: the run stays ordered by distance from home.
	i := uint64(p)
	for {
		j := (i + 1) & x.mask
		e := x.entries[j]
		if e == 0 || x.dist(e, j) == 0 {
			break
		}
		x.entries[i] = e
		i = j
	}
	x.entries[i] = 0
	x.n--
}
