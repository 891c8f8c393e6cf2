package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import (
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span and link attributes written by the splitter.
const (
	originTraceIDAttr = "lifecycle.segment.origin_trace_id"
	segmentIndexAttr  = "lifecycle.segment.index"
	linkTypeAttr      = "lifecycle.link.type"
	linkTypeParent    = "parent"
)

// restartBase is the first segment index used for a trace that continues
// after its state was dropped. Such a trace opens segment
// restartBase + (start time, in Unix microseconds, of the span that arrives
// first after the drop), raised if needed above the last segment the trace
// used in its previous continuation (kept in restartedSet). The index comes
// from the data, so replays and replicas that dropped the state at the same
// point agree on it. Ordinary segment indices count up from 0 and never come
// near 2^52, so a continuation can never grow a segment that was closed,
// whatever it held.
const restartBase = uint64(1) << 52

// Eviction reasons.
const (
	reasonIdle = iota
	reasonCapacity
	numReasons
)

// minEvictedMemory is the least number of evictions the processor remembers
// (see evictedSet), whatever max_traces is.
const minEvictedMemory = 1 << 16

var reasonNames = [numReasons]string{"idle_timeout", "max_traces"}

// splitStats are the counts of one batch, added to the metrics after it.
type splitStats struct {
	moved, rerooted, segments, linksLost, forgotten int64
	evicted                                         [numReasons]int64
}

// splitter assigns every span to a segment as it arrives. It buffers no
// span. It is not safe for concurrent use; the processor serialises calls.
type splitter struct {
	maxSpans   uint32
	capSpans   uint32 // 2 x max_spans: no segment ever holds more
	trackSpans uint32 // count beyond which per-span state begins (tests only; default never)
	maxAge     int64
	trackAge   int64 // age at which per-span state begins (tests only; default never)
	idle       int64
	maxTraces  int
	maxPending int    // cap of splitState.pendingClosed
	genSegs    uint64 // segments per generation of the window (bloom.go)
	gens       int    // generations in the window

	epoch time.Time
	now   int64 // nanoseconds since epoch, set per batch

	table       traceTable
	details     []*splitState
	named       namedSlab // open parents named by the prefixes of traces
	freeDetails []int32
	mids        [][]uint32 // middle tiers of prefixes (prefix.go), by midIndex
	freeMids    []int32
	evicted     *evictedSet   // allocated at the first eviction
	restarted   *restartedSet // allocated at the first eviction of a continuation

	lastID  pcommon.TraceID // one-entry lookup cache: spans of a trace come together
	lastIdx int32

	stats splitStats
}

func newSplitter(cfg SplitConfig, epoch time.Time) *splitter {
	return &splitter{
		maxSpans:   uint32(cfg.MaxSpans),
		capSpans:   uint32(2 * cfg.MaxSpans),
		trackSpans: math.MaxUint32, // the prefix decides when per-span state begins (prefix.go)
		maxAge:     int64(cfg.MaxAge),
		trackAge:   math.MaxInt64,
		idle:       int64(cfg.IdleTimeout),
		maxTraces:  cfg.MaxTraces,
		maxPending: cfg.MaxSpans,
		genSegs:    windowShape.genSegs,
		gens:       windowShape.gens,
		epoch:      epoch,
		table:      newTraceTable(),
		lastIdx:    nilIdx,
		now:        -1,
	}
}

// begin sets the arrival time of the batch about to be processed and drops
// the state of idle traces.
func (s *splitter) begin(now time.Time) {
	// Every batch gets its own instant, so "already moved to the recent end
	// during this batch" is a comparison of lastSeen with now.
	s.now = max(int64(now.Sub(s.epoch)), s.now+1)
	s.evictIdle()
}

// tracked is the number of traces whose state is held.
func (s *splitter) tracked() int { return s.table.n }

func (s *splitter) evictIdle() {
	for s.table.head != nilIdx && s.now-s.table.at(s.table.head).lastSeen >= s.idle {
		s.evict(s.table.head, reasonIdle)
	}
}

func (s *splitter) evict(i int32, reason int) {
	ts := s.table.at(i)
	if s.evicted == nil {
		s.evicted = newEvictedSet(s.table.mem, max(s.maxTraces, minEvictedMemory))
	}
	s.evicted.add(traceHash(ts.id))
	if d := s.detail(ts); d != nil && d.seg >= restartBase {
		if s.restarted == nil {
			s.restarted = newRestartedSet(max(s.maxTraces, minEvictedMemory))
		}
		s.restarted.add(traceHash(ts.id), d.seg)
	}
	if ts.named != 0 {
		s.named.drain(&ts.named, nil)
	}
	if ts.detail >= 0 {
		s.details[ts.detail] = nil
		s.freeDetails = append(s.freeDetails, ts.detail)
	} else if ts.detail != noDetail {
		s.takeMid(ts)
	}
	s.table.remove(i)
	s.lastIdx = nilIdx
	s.stats.evicted[reason]++
}

// reset drops all state (shutdown). The evicted set's memory goes with the
// table's.
func (s *splitter) reset() {
	s.table.release()
	s.table = newTraceTable()
	s.details, s.freeDetails, s.evicted, s.restarted = nil, nil, nil, nil
	s.mids, s.freeMids = nil, nil
	s.named = namedSlab{}
	s.lastIdx = nilIdx
}

// lookup returns the slot of trace t, creating its state if needed, and marks
// it active now. span is the span being assigned: a new trace that continues
// after its state was dropped takes its segment index from it (restart).
func (s *splitter) lookup(t pcommon.TraceID, span ptrace.Span) int32 {
	if s.lastIdx != nilIdx && s.lastID == t {
		return s.lastIdx
	}
	i, ok := s.table.get(t)
	if ok {
		if s.table.at(i).lastSeen == s.now {
			s.lastID, s.lastIdx = t, i
			return i // already moved to the recent end during this batch
		}
		s.table.touch(i)
	} else {
		if s.table.n >= s.maxTraces {
			s.evict(s.table.head, reasonCapacity)
		}
		i = s.table.insert(t)
		ts := s.table.at(i)
		ts.opened = s.now
		if s.evicted != nil && s.evicted.has(traceHash(t)) {
			s.restart(ts, span)
		}
	}
	s.table.at(i).lastSeen = s.now
	s.lastID, s.lastIdx = t, i
	return i
}

// restart starts a trace that continues after its state was dropped in a
// fresh segment beyond any it may have used: restartBase + the start time (in
// Unix microseconds) of first, its first span, above the last segment of its
// previous continuation.
func (s *splitter) restart(ts *traceState, first ptrace.Span) {
	k := restartBase + uint64(first.StartTimestamp())/1000
	if s.restarted != nil {
		if last, ok := s.restarted.last(traceHash(ts.id)); ok && k <= last {
			k = last + 1
		}
	}
	s.startDetail(ts, k)
	s.stats.segments++
}

func (s *splitter) detail(ts *traceState) *splitState {
	if ts.detail < 0 {
		return nil
	}
	return s.details[ts.detail]
}

// startDetail allocates per-span state for a trace whose current segment is
// seg. The parents its prefix named that have not arrived become parents
// named in segment 0 (the prefix is in segment 0), the digests of its middle
// tier become those of the current segment (segment 0), and its seen set is
// frozen.
func (s *splitter) startDetail(ts *traceState, seg uint64) *splitState {
	d := newSplitState(ts.id, seg)
	if ts.detail != noDetail {
		d.seenCur = s.takeMid(ts)
	}
	if ts.named != 0 {
		s.named.drain(&ts.named, d.named)
	}
	if n := len(s.freeDetails); n > 0 {
		ts.detail = s.freeDetails[n-1]
		s.freeDetails = s.freeDetails[:n-1]
		s.details[ts.detail] = d
	} else {
		ts.detail = int32(len(s.details))
		s.details = append(s.details, d)
	}
	return d
}

// openSegment closes the current segment of a trace and opens the next.
func (s *splitter) openSegment(ts *traceState) *splitState {
	d := s.detail(ts)
	if d == nil {
		d = s.startDetail(ts, 0) // a trace without per-span state is in segment 0
	}
	d.closeCurrent(s, ts.id, d.seg, ts.count)
	d.setSegment(ts.id, d.seg+1)
	ts.count = 0
	ts.opened = s.now
	s.stats.segments++
	return d
}

// addPendingClosed records that p was named as a parent in closed segment j
// and has not arrived. At the cap the oldest entry is forgotten (counted as a
// lost parent link).
func (s *splitter) addPendingClosed(d *splitState, p, j uint64) {
	for len(d.pendingClosed) >= s.maxPending && len(d.pendingOrder) > 0 {
		old := d.pendingOrder[0]
		d.pendingOrder = d.pendingOrder[1:]
		if _, ok := d.pendingClosed[old]; ok {
			delete(d.pendingClosed, old)
			s.stats.linksLost++
		}
	}
	if d.pendingClosed == nil {
		d.pendingClosed = make(map[uint64]uint64)
	}
	d.pendingClosed[p] = j
	d.pendingOrder = append(d.pendingOrder, p)
	if len(d.pendingOrder) > 2*len(d.pendingClosed)+64 {
		// Compact: drop keys of parents that arrived, keep the order.
		live := d.pendingOrder[:0:0]
		for _, k := range d.pendingOrder {
			if _, ok := d.pendingClosed[k]; ok {
				live = append(live, k)
			}
		}
		d.pendingOrder = live
	}
}

// forgetGroup is called when generation g of the window of a trace is
// forgotten: the span IDs of its segments are no longer known (counted in
// segments_forgotten), the parents named there that have not arrived are
// forgotten (counted in parent_links_lost, as at the cap; segment 0's are
// kept, so a lifecycle root arriving last still joins segment 0), and so are
// the span counts of its segments.
func (s *splitter) forgetGroup(d *splitState, g uint64) {
	lo, end := max(g*s.genSegs, d.base), (g+1)*s.genSegs
	if end > lo {
		s.stats.forgotten += int64(end - lo)
	}
	for id, j := range d.pendingClosed {
		if j != 0 && j < end {
			delete(d.pendingClosed, id)
			s.stats.linksLost++
		}
	}
	d.trimCounts(end)
}

// recordInPrefix records span key sid as arrived in the prefix of a trace
// without per-span state: in the seen set while it has room (or holds the
// fingerprint already), then as a 32-bit digest in the middle tier. It
// reports whether sid went to the middle tier.
func (s *splitter) recordInPrefix(ts *traceState, sid uint64) (inMid bool) {
	if ts.detail == noDetail {
		if ts.seen.add(seenFP(sid)) {
			return false
		}
		var i int32
		if n := len(s.freeMids); n > 0 {
			i = s.freeMids[n-1]
			s.freeMids = s.freeMids[:n-1]
		} else {
			i = int32(len(s.mids))
			s.mids = append(s.mids, nil)
		}
		ts.detail = midDetail(i)
	}
	m := &s.mids[midIndex(ts.detail)]
	*m = appendDigest(*m, spanHash(sid))
	return true
}

// appendDigest appends h to a list of span digests, growing it by a quarter (to
// the end of the allocation's size class), not doubling as append does below
// 256 entries: most traces stay small.
func appendDigest(l []uint32, h uint32) []uint32 {
	if len(l) == cap(l) {
		l = append(slices.Grow([]uint32(nil), max(8, cap(l)+cap(l)/4)), l...)
	}
	return append(l, h)
}

// midDetail and midIndex convert between an index into splitter.mids and
// the value of traceState.detail that points at it (-2 and below).
func midDetail(i int32) int32 { return noDetail - 1 - i }
func midIndex(d int32) int32  { return noDetail - 1 - d }

// takeMid detaches the middle tier of a trace and returns its digests.
func (s *splitter) takeMid(ts *traceState) []uint32 {
	i := midIndex(ts.detail)
	m := s.mids[i]
	s.mids[i] = nil
	s.freeMids = append(s.freeMids, i)
	ts.detail = noDetail
	return m
}

// nameInPrefix records p as a parent named by a prefix span; false when the
// list of open parents is full.
func (s *splitter) nameInPrefix(ts *traceState, p uint64) bool {
	found, n := s.named.find(ts.named, p)
	if found {
		return true
	}
	if n >= maxOpenNamed && (ts.detail == noDetail || n >= maxOpenNamedMid) {
		return false
	}
	s.named.push(&ts.named, p)
	return true
}

// segmentDone reports whether the current segment of a trace is closed to
// new spans: it holds max_spans spans or has been open max_age.
func (s *splitter) segmentDone(ts *traceState) bool {
	return ts.count >= s.maxSpans || s.now-ts.opened >= s.maxAge
}

// assignPrefix places span sid (parent p) of a trace without per-span state
// in segment 0 and records it in the prefix. It returns false, placing
// nothing, when segment 0 closes before this span: per-span state then
// begins in openSegment, and the span goes to the next segment.
func (s *splitter) assignPrefix(ts *traceState, sid, p uint64) bool {
	closing := s.segmentDone(ts)
	wasNamed := sid != 0 && ts.named != 0 && s.named.remove(&ts.named, sid)
	if closing && !(wasNamed && ts.count < s.capSpans) { // a late parent joins segment 0 even when full
		if wasNamed {
			s.stats.linksLost++ // its segment 0 is at 2 x max_spans
		}
		return false
	}
	ts.count++
	inMid := false
	if ts.count <= s.trackSpans && s.now-ts.opened < s.trackAge {
		if sid != 0 {
			inMid = s.recordInPrefix(ts, sid)
		}
		if p == 0 || s.nameInPrefix(ts, p) {
			return true
		}
	}
	// The prefix is full: per-span state begins with this span, still in
	// segment 0, where no span is re-rooted. Its digest moves to seenCur
	// with the middle tier, if it went there.
	d := s.startDetail(ts, 0)
	if sid != 0 && !inMid {
		d.seenCur = appendDigest(d.seenCur, spanHash(sid))
	}
	if p != 0 {
		d.parentInCurrent(p, &ts.seen)
	}
	return true
}

// assign places one span in a segment of its trace and rewrites it when it
// leaves segment 0 or its parent landed in another segment.
//
// Until a trace has per-span state, its spans stay in segment 0 and are
// recorded in its prefix (see prefix.go); no decision needs more. Per-span
// state begins when the prefix is full or segment 0 closes. From then on, a
// parent named by the prefix that has not arrived is known exactly (as named
// in segment 0: it joins segment 0 when it arrives), and a span of a later
// segment whose parent's fingerprint is in the prefix's seen set is
// re-rooted with its link (a false positive costs only that re-root).
func (s *splitter) assign(span ptrace.Span) {
	t := span.TraceID()
	if t.IsEmpty() {
		return // not a valid span of any trace: leave it as it came
	}
	ts := s.table.at(s.lookup(t, span))
	sid := spanKey(span.SpanID())
	parent := span.ParentSpanID()
	p := spanKey(parent)
	d := s.detail(ts)

	if d == nil && s.assignPrefix(ts, sid, p) {
		return
	}

	// A span named earlier as a parent joins the segment that named it first.
	var seg uint64
	if d != nil {
		seg = d.seg
	}
	late, inClosed := false, false
	if d != nil && sid != 0 {
		if _, ok := d.pendingCur[sid]; ok {
			delete(d.pendingCur, sid)
			if ts.count < s.capSpans {
				late = true
			} else {
				s.stats.linksLost++
			}
		} else if j, ok := d.namedInClosed(sid); ok {
			delete(d.pendingClosed, sid)
			if *d.count(j) < s.capSpans {
				late, inClosed, seg = true, true, j
			} else {
				s.stats.linksLost++
			}
		}
	}
	if !late && s.segmentDone(ts) {
		d = s.openSegment(ts)
		seg = d.seg
	}
	if inClosed {
		*d.count(seg)++
		d.closed.add(uint64(spanHash(sid)))
	} else {
		ts.count++
		if sid != 0 {
			d.seenCur = appendDigest(d.seenCur, spanHash(sid))
			if seg != 0 && ts.seen.has(seenFP(sid)) {
				// A false positive of the prefix's seen set (this span is
				// arriving now): mark it present in this segment, so that
				// its later children keep it as their parent.
				d.named(sid)
			}
		}
	}

	reroot := false
	if p != 0 {
		if inClosed {
			reroot = d.parentInClosed(s, p, seg, &ts.seen)
		} else {
			reroot = d.parentInCurrent(p, &ts.seen)
		}
	}

	if seg != 0 {
		if seg == d.seg {
			span.SetTraceID(d.segID)
		} else {
			span.SetTraceID(segmentTraceID(t, seg))
		}
		attrs := span.Attributes()
		attrs.PutStr(originTraceIDAttr, d.originHex)
		attrs.PutInt(segmentIndexAttr, int64(seg))
		s.stats.moved++
	}
	if reroot {
		link := span.Links().AppendEmpty()
		link.SetTraceID(t)
		link.SetSpanID(parent)
		link.Attributes().PutStr(linkTypeAttr, linkTypeParent)
		span.SetParentSpanID(pcommon.NewSpanIDEmpty())
		s.stats.rerooted++
	}
}
