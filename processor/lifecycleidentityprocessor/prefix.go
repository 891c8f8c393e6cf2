package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

// The prefix of a trace is the spans it receives before its per-span state
// (splitState) begins, all in segment 0. So that a trace that never grows
// past a handful of spans needs no per-span state, the prefix is recorded in
// two small structures, both complete (no ID that went in is ever missed):
//
//   - seenSet, inline in the trace's traceState: 16-bit fingerprints of the
//     span IDs that arrived. It only ever answers "maybe seen" (the ID, or
//     another with the same fingerprint, arrived) or "certainly not".
//   - a list of the parent span IDs named by prefix spans that have not
//     arrived, exact (full span IDs), in a shared slab (namedSlab) the trace
//     points into. An ID leaves the list when its span arrives.
//
// When the seen set is full (an 11th distinct fingerprint), the spans that
// follow go to the middle tier (below) as exact 32-bit digests. Per-span
// state begins when the open parents overflow the list (a 5th while the seen
// set fills, a 9th in the middle tier), or when segment 0 closes. Then the
// open parents move
// into splitState as parents named in segment 0, exactly as if per-span state
// had been there from the start, and the seen set is frozen: afterwards it
// only answers "is this parent maybe in segment 0?" for spans of later
// segments (splitState.parentInCurrent, parentInClosed). A false "maybe"
// (about 10 / 65536 per question) re-roots a span with its link.

// seenSet holds the fingerprints of the span IDs of a trace's prefix.
type seenSet [seenEntries]uint16

const (
	seenEntries  = 10
	maxOpenNamed = 4 // open parents named in the prefix before per-span state begins
	// Open parents a trace in its middle tier may hold. While the seen set
	// fills, the limit stays maxOpenNamed: which spans the seen set holds
	// must not depend on it.
	maxOpenNamedMid = 8
)

// seenFPMask narrows fingerprints in tests, to make false positives common.
var seenFPMask = uint16(0xffff)

// seenFP is the 16-bit fingerprint of span key id, never 0.
func seenFP(id uint64) uint16 {
	fp := uint16(mix64(id^0x5bd1e9955bd1e995)>>48) & seenFPMask // salted: unrelated to spanHash
	if fp == 0 {
		fp = 1
	}
	return fp
}

// find returns the position of fp in the set, or of the first free entry
// (found false), or seenEntries when the set is full and does not hold fp.
// Entries fill from the front and are never removed, so fp cannot be past
// the first free entry.
func (ss *seenSet) find(fp uint16) (i int, found bool) {
	for i, e := range ss {
		if e == fp || e == 0 {
			return i, e == fp
		}
	}
	return seenEntries, false
}

// add records fp; false when the set is full (and does not hold fp).
func (ss *seenSet) add(fp uint16) bool {
	i, found := ss.find(fp)
	switch {
	case found:
		return true
	case i == seenEntries:
		return false
	}
	ss[i] = fp
	return true
}

// has reports whether fp may have been added (false: certainly not).
func (ss *seenSet) has(fp uint16) bool {
	_, found := ss.find(fp)
	return found
}

// namedEntry is one open parent of a trace's prefix, in a per-trace list.
type namedEntry struct {
	id   uint64
	next int32 // index+1 of the next entry of the same trace, 0 at the end
}

// namedSlab stores the open-parent lists of all traces in one slice with a
// free list: no allocation per trace once it has grown.
type namedSlab struct {
	entries []namedEntry
	free    int32 // index+1 of the first free entry, 0 if none
}

// push adds id in front of the list starting at *head (index+1, 0 = empty).
func (n *namedSlab) push(head *int32, id uint64) {
	var i int32
	if n.free != 0 {
		i = n.free
		n.free = n.entries[i-1].next
	} else {
		n.entries = append(n.entries, namedEntry{})
		i = int32(len(n.entries))
	}
	n.entries[i-1] = namedEntry{id: id, next: *head}
	*head = i
}

// find reports whether id is in the list starting at head, and the number of
// entries it passed.
func (n *namedSlab) find(head int32, id uint64) (found bool, length int) {
	for i := head; i != 0; i = n.entries[i-1].next {
		if n.entries[i-1].id == id {
			return true, length
		}
		length++
	}
	return false, length
}

// remove deletes id from the list at *head; it reports whether it was there.
func (n *namedSlab) remove(head *int32, id uint64) bool {
	for p := head; *p != 0; p = &n.entries[*p-1].next {
		i := *p
		if n.entries[i-1].id == id {
			*p = n.entries[i-1].next
			n.entries[i-1] = namedEntry{next: n.free}
			n.free = i
			return true
		}
	}
	return false
}

// drain calls f for every id of the list at *head and frees the list.
func (n *namedSlab) drain(head *int32, f func(uint64)) {
	for i := *head; i != 0; {
		e := n.entries[i-1]
		if f != nil {
			f(e.id)
		}
		n.entries[i-1] = namedEntry{next: n.free}
		n.free = i
		i = e.next
	}
	*head = 0
}

// The middle tier. When the seen set is full, the trace does not take
// per-span state (splitState, a few hundred bytes of fixed cost) yet: the
// 32-bit digests (spanHash) of its next spans go into a plain []uint32 of
// its own (splitter.mids, grown by half, not doubled), exactly the digests
// splitState.seenCur would have held for them. Per-span state begins when
// the open parents overflow the prefix's list or segment 0 closes; the
// slice then becomes seenCur as it is. Until then no question needs it
// (segment 0 re-roots nothing, and the open parents are in the exact list),
// so every decision is the one per-span state would have taken.
