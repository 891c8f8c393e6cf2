package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

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

// seenFP is the 16-bit fingerprint of span key id, never 0.
func (e *Engine) seenFP(id uint64) uint16 {
	fp := uint16(mix64(id^0x5bd1e9955bd1e995)>>48) & e.opts.fpMask // salted: unrelated to spanHash
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
