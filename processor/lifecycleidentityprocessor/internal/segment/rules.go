package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Assign places one span (span key sid, parent key p, 0 for none; start is
// its start time in nanoseconds) in a segment of trace t and says what
// becomes of it.
//
// Until a trace has per-span state, its spans stay in segment 0 and are
// recorded in its prefix (see prefix.go); no decision needs more. Per-span
// state begins when the prefix is full or segment 0 closes. From then on, a
// parent named by the prefix that has not arrived is known exactly (as named
// in segment 0: it joins segment 0 when it arrives), and a span of a later
// segment whose parent's fingerprint is in the prefix's seen set is
// re-rooted with its link (a false positive costs only that re-root).
func (e *Engine) Assign(t TraceID, sid, p, start uint64) Decision {
	if t == (TraceID{}) {
		return Decision{} // not a valid span of any trace: leave it as it came
	}
	ts := e.table.at(e.lookup(t, start))
	d := e.detail(ts)
	if d == nil && e.assignPrefix(ts, sid, p) {
		return Decision{}
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
			late = e.mayJoin(ts.spans())
		} else if j, ok := d.namedInClosed(sid); ok {
			delete(d.pendingClosed, sid)
			if e.mayJoin(*d.count(j)) {
				late, inClosed, seg = true, true, j
			}
		}
	}
	if !late && e.segmentDone(ts) {
		d = e.openSegment(ts)
		seg = d.seg
	}
	if inClosed {
		*d.count(seg)++
		d.closed.add(e.blocks, uint64(spanHash(sid)))
	} else {
		ts.addSpan()
		if sid != 0 {
			d.appendCur(e, spanHash(sid))
			if seg != 0 && ts.seen.has(e.seenFP(sid)) {
				// A false positive of the prefix's seen set (this span is
				// arriving now): mark it present in this segment, so that
				// its later children keep it as their parent.
				d.named(sid)
			}
		}
	}

	var dec Decision
	if p != 0 {
		if inClosed {
			dec.Reroot = d.parentInClosed(e, p, seg, &ts.seen)
		} else {
			dec.Reroot = d.parentInCurrent(e, p, &ts.seen)
		}
	}
	if seg != 0 {
		dec.Segment, dec.Origin = seg, d.originHex
		if seg == d.seg {
			dec.TraceID = d.segID
		} else {
			dec.TraceID = SegmentTraceID(t, seg)
		}
		e.stats.Moved++
	}
	if dec.Reroot {
		e.stats.Rerooted++
	}
	return dec
}

// assignPrefix places span sid (parent p) of a trace without per-span state
// in segment 0 and records it in the prefix. It returns false, placing
// nothing, when segment 0 closes before this span: per-span state then
// begins in openSegment, and the span goes to the next segment.
func (e *Engine) assignPrefix(ts *traceState, sid, p uint64) bool {
	closing := e.segmentDone(ts)
	head := e.namedHead(ts)
	wasNamed := sid != 0 && *head != 0 && e.named.remove(head, sid)
	if closing && !(wasNamed && e.mayJoin(ts.spans())) { // a late parent joins segment 0 even when full
		return false
	}
	ts.addSpan()
	inMid := false
	if ts.spans() <= e.opts.trackSpans && e.since(ts.opened) < e.opts.trackAge {
		if sid != 0 {
			inMid = e.recordInPrefix(ts, sid)
		}
		if p == 0 || e.nameInPrefix(ts, p) {
			return true
		}
	}
	// The prefix is full: per-span state begins with this span, still in
	// segment 0, where no span is re-rooted. Its digest moves to seenCur
	// with the middle tier, if it went there.
	d := e.startDetail(ts, 0)
	if sid != 0 && !inMid {
		d.seenCur = e.appendDigest(d.seenCur, spanHash(sid))
	}
	if p != 0 {
		d.parentInCurrent(e, p, &ts.seen)
	}
	return true
}

// recordInPrefix records span key sid as arrived in the prefix of a trace
// without per-span state: in the seen set while it has room (or holds the
// fingerprint already), then as a 32-bit digest in the middle tier. It
// reports whether sid went to the middle tier.
func (e *Engine) recordInPrefix(ts *traceState, sid uint64) (inMid bool) {
	i, ok := midIndex(ts.tier)
	if !ok {
		if ts.seen.add(e.seenFP(sid)) {
			return false
		}
		i = e.mids.get()
		e.mids.at(i).named = ts.tier // the open parents' list moves with it
		ts.tier = midTier(i)
	}
	m := e.mids.at(i)
	m.digests = e.appendDigest(m.digests, spanHash(sid))
	return true
}

// takeMid detaches the middle tier of a trace and returns its digests; the
// head of the trace's list of open parents goes back to its slot.
func (e *Engine) takeMid(ts *traceState) []uint32 {
	i, _ := midIndex(ts.tier)
	m := e.mids.take(i)
	ts.tier = m.named
	return m.digests
}

// nameInPrefix records p as a parent named by a prefix span; false when the
// list of open parents is full.
func (e *Engine) nameInPrefix(ts *traceState, p uint64) bool {
	head := e.namedHead(ts)
	found, n := e.named.find(*head, p)
	if found {
		return true
	}
	if _, mid := midIndex(ts.tier); n >= maxOpenNamed && (!mid || n >= maxOpenNamedMid) {
		return false
	}
	e.named.push(head, p)
	return true
}

// addPendingClosed records that p was named as a parent in closed segment j
// and has not arrived. At the cap the oldest entry is forgotten (counted as a
// lost parent link).
func (e *Engine) addPendingClosed(d *splitState, p, j uint64) {
	for len(d.pendingClosed) >= e.maxPending && len(d.pendingOrder) > 0 {
		old := d.pendingOrder[0]
		d.pendingOrder = d.pendingOrder[1:]
		if _, ok := d.pendingClosed[old]; ok {
			delete(d.pendingClosed, old)
			e.stats.LinksLost++
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
func (e *Engine) forgetGroup(d *splitState, g uint64) {
	lo, end := max(g*e.opts.genSegs, d.base), (g+1)*e.opts.genSegs
	if end > lo {
		e.stats.Forgotten += int64(end - lo)
	}
	for id, j := range d.pendingClosed {
		if j != 0 && j < end {
			delete(d.pendingClosed, id)
			e.stats.LinksLost++
		}
	}
	d.trimCounts(end)
}
