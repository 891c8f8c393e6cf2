package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"encoding/hex"
	"slices"
)

// splitState is the per-span memory of a trace that outgrew its prefix (see
// prefix.go) or split. It answers, for every arriving span, "was I named as a
// parent in an earlier segment?" and "is my parent in a closed segment?"
// (together with the frozen seen set of the trace's prefix, for the spans of
// segment 0 that arrived before this state began).
//
//   - seenCur: 32-bit digests (spanHash) of the span IDs placed in the
//     current segment (4 bytes each, at most 2 x max_spans; dropped when
//     the first segment closes, then reused, see appendCur).
//   - pendingCur: span IDs named as parent in the current segment that have
//     not arrived (exact; usually a handful: the lifecycle root and the
//     handlers still in flight).
//   - pendingClosed: the same for closed segments, with the segment that
//     named them first, so a late parent joins that segment. Exact, capped
//     at max_spans entries; an entry forgotten at the cap, or because its
//     segment left the window (below), is counted as a parent link lost.
//     Entries of segment 0 (the lifecycle root) never leave with the window.
//   - closed: digests of the span IDs of the most recent closed segments (at
//     least windowSegments of them), in a ring of Bloom filters, one per
//     generation of genSegments segments (bloom.go, closedWindow). A false
//     "yes" only re-roots a child (with its link) whose parent was in fact in
//     its own segment or had not arrived. When a generation is forgotten, a
//     child whose parent arrived in it keeps its parent ID, and its tree
//     breaks (counted in segments_forgotten); the child names that parent
//     again in its own segment, and when that segment leaves the window (or
//     at the cap) the parent is counted as a parent link lost too.
//   - counts: the span count of every closed segment in the window, and of
//     segment 0 (count0), for late parents that join them.
//
// Everything but the current segment lives in splitExtra, allocated when the
// trace first closes a segment or starts beyond segment 0 (a continuation
// after eviction): a trace that took per-span state but never splits holds
// 48 bytes here (unsafe.Sizeof on 64-bit platforms), not 216 (48 + 168 for
// splitExtra; TestStructSizes).
type splitState struct {
	seg         uint64 // index of the current segment
	bytes       int64  // what it holds but seenCur, when last counted (budget.go)
	seenCur     []uint32
	pendingCur  map[uint64]struct{}
	*splitExtra // nil while the trace is in segment 0 and nothing closed
}

// splitExtra is the part of splitState only a trace past segment 0 uses.
type splitExtra struct {
	base          uint64   // first segment index this state knows about
	count0        uint32   // spans in segment 0, when it is closed
	lastCount     uint32   // spans in the last closed segment
	cbase         uint64   // segment whose count is counts[0]
	counts        []uint32 // spans in closed segment cbase+i (never segment 0)
	segID         TraceID
	originHex     string
	pendingClosed map[uint64]uint64
	pendingOrder  []uint64 // pendingClosed keys, oldest first (may hold stale keys)
	closed        closedWindow
	scratch       []uint64
}

func newSplitState(t TraceID, seg uint64) *splitState {
	d := &splitState{seg: seg}
	if seg != 0 {
		d.extra(t)
	}
	return d
}

// extra allocates the split-only part, once; base is the current segment.
func (d *splitState) extra(t TraceID) {
	if d.splitExtra != nil {
		return
	}
	d.splitExtra = &splitExtra{
		base:      d.seg,
		segID:     SegmentTraceID(t, d.seg),
		originHex: hex.EncodeToString(t[:]), // t is never empty (Assign skips such spans)
		cbase:     max(d.seg, 1),
	}
}

// setSegment makes segment k of trace t the current one (the split-only
// part exists: a segment was closed).
func (d *splitState) setSegment(t TraceID, k uint64) {
	d.seg = k
	d.segID = SegmentTraceID(t, k)
}

// named records p as named in the current segment and not arrived.
func (d *splitState) named(p uint64) {
	if d.pendingCur == nil {
		d.pendingCur = make(map[uint64]struct{})
	}
	d.pendingCur[p] = struct{}{}
}

// pendingScanMax is the number of open parents at the close of a segment
// up to which closeCurrent scans the segment's digests for each instead of
// sorting them once.
const pendingScanMax = 8

// closeCurrent folds the current segment k, which holds count spans, into the
// closed state. When k opens a new generation of the window, the oldest one
// may be forgotten (Engine.forgetGroup) first.
func (d *splitState) closeCurrent(e *Engine, t TraceID, k uint64, count uint32) {
	d.extra(t)
	// A new generation is sized for genSegs segments like this one: count
	// spans each (not len(seenCur): for segment 0 that holds only the spans
	// past the prefix's seen set), at most max_spans (late parents beyond it
	// are rare and chain a filter if need be).
	g := e.opts.genSegs
	hint := int(g * uint64(min(count, e.maxSpans)))
	if old, forgot := d.closed.open(e.blocks, k/g, e.opts.gens, hint); forgot {
		e.forgetGroup(d, old)
	}
	if k == 0 {
		d.count0 = count
	} else {
		d.counts = append(d.counts, count) // segments close in order: k is cbase+len(counts)
	}
	if len(d.pendingCur) > 0 {
		// Parents that arrived before their children were recorded as named;
		// drop those, the rest wait for their parent in segment k. There are
		// usually one or two (a false positive of the seen set marks a span
		// present, Engine.Assign): a scan of the segment's digests for each
		// costs less than sorting them, which took 15% of a long-lived
		// trace's time when it ran at every segment.
		sorted := len(d.pendingCur) > pendingScanMax
		if sorted {
			slices.Sort(d.seenCur)
		}
		d.scratch = d.scratch[:0]
		for id := range d.pendingCur {
			var found bool
			if sorted {
				_, found = slices.BinarySearch(d.seenCur, spanHash(id))
			} else {
				found = slices.Contains(d.seenCur, spanHash(id))
			}
			if !found {
				d.scratch = append(d.scratch, id)
			}
		}
		slices.Sort(d.scratch) // map order is random; keep eviction order reproducible
		for _, id := range d.scratch {
			e.addPendingClosed(d, id, k)
		}
		clear(d.pendingCur)
	}
	for _, h := range d.seenCur {
		d.closed.add(e.blocks, uint64(h))
	}
	d.lastCount = count
	if k == d.base {
		// The buffer of the first segment this state closes goes: a trace
		// that closes one segment often never fills another (the one-off
		// trace of a little over max_spans), and one that does regrows it
		// straight to this segment's size (appendCur). After that the
		// trace has shown it goes on, and the buffer is reused.
		e.dropDigests(d.seenCur)
		d.seenCur = nil
		return
	}
	d.seenCur = d.seenCur[:0]
}

// appendCur records digest h in the current segment. Past 64 entries the
// list grows straight to the size of the last closed segment, so a trace
// that fills segment after segment allocates twice per segment, not at
// every quarter.
func (d *splitState) appendCur(e *Engine, h uint32) {
	if n := len(d.seenCur); n == cap(d.seenCur) && n >= 64 && d.splitExtra != nil && uint32(n) < d.lastCount {
		d.seenCur = e.growDigests(d.seenCur, int(d.lastCount))
	}
	d.seenCur = e.appendDigest(d.seenCur, h)
}

// release gives back the blocks of d (its digest list and its filters),
// whose trace is being dropped, and drops them: nothing may use d after.
func (d *splitState) release(a *slabAlloc) {
	a.freeDigests(d.seenCur)
	d.seenCur = nil
	if d.splitExtra != nil {
		d.closed.release(a)
	}
}

// namedInClosed returns the closed segment that named id first, if id is
// a parent named there that has not arrived.
func (d *splitState) namedInClosed(id uint64) (uint64, bool) {
	if d.splitExtra == nil {
		return 0, false // nothing closed yet
	}
	j, ok := d.pendingClosed[id]
	return j, ok
}

// count returns a pointer to the span count of closed segment j.
func (d *splitState) count(j uint64) *uint32 {
	if j == 0 {
		return &d.count0
	}
	return &d.counts[j-d.cbase]
}

// trimCounts drops the counts of closed segments below end (segment 0's
// stays), in place: no allocation in steady state.
func (d *splitState) trimCounts(end uint64) {
	if end <= d.cbase {
		return
	}
	drop := min(end-d.cbase, uint64(len(d.counts)))
	d.counts = d.counts[:copy(d.counts, d.counts[drop:])]
	d.cbase += drop
}

// Invariant 3 (valid trees) is decided here: parentInCurrent and
// parentInClosed say whether a span keeps its parent or is re-rooted with a
// link to it, and record the parents that have not arrived, so that a late
// parent joins the segment that named it first (Engine.Assign).

// parentInCurrent decides for a span placed in the current segment whether
// its parent p stays its parent (false) or the span must be re-rooted (true).
//
// When segment 0 has closed, the seen set of the trace's prefix answers for
// the spans of segment 0 that arrived before this state began: a parent whose
// fingerprint is there may be in segment 0, so the span is re-rooted. (The
// parents the prefix named and that had not arrived are in pendingClosed,
// exact.) A false positive re-roots the span too, with its link; if p then
// arrives in the current segment it is marked present there (Engine.Assign),
// so its later children keep it.
func (d *splitState) parentInCurrent(e *Engine, p uint64, seen *seenSet) bool {
	if _, ok := d.pendingCur[p]; ok {
		return false
	}
	if d.splitExtra != nil {
		if _, ok := d.pendingClosed[p]; ok {
			return true // p will join the earlier segment that named it first
		}
		if d.closed.has(uint64(spanHash(p))) {
			return true // p is in a closed segment (or a false positive)
		}
	}
	if d.seg != 0 && seen.has(e.seenFP(p)) {
		return true // p arrived in segment 0 (or a false positive)
	}
	d.named(p)
	return false
}

// parentInClosed decides the same for a late parent placed in closed
// segment j.
func (d *splitState) parentInClosed(e *Engine, p, j uint64, seen *seenSet) bool {
	if k, ok := d.pendingClosed[p]; ok {
		return k != j
	}
	if _, ok := d.pendingCur[p]; ok {
		return true
	}
	if d.closed.has(uint64(spanHash(p))) {
		// p arrived in some closed segment, maybe j; which one is not kept,
		// so re-root to stay a valid tree.
		return true
	}
	if slices.Contains(d.seenCur, spanHash(p)) { // rare path: a late parent's parent arrived first
		return true
	}
	if j != 0 && seen.has(e.seenFP(p)) {
		return true // p arrived in segment 0 (or a false positive)
	}
	e.addPendingClosed(d, p, j)
	return false
}
