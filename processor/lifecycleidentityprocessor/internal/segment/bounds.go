package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Invariant 2 (bounded): no output trace holds more than max_spans spans,
// save late parents that join their children's segment, and never more
// than 2 x max_spans. These two functions are the only places that decide
// it: a span goes to the current segment unless segmentDone, and a late
// parent joins an earlier segment only if mayJoin.

// segmentDone reports whether the current segment of a trace is closed to
// new spans: it holds max_spans spans or has been open max_age.
func (e *Engine) segmentDone(ts *traceState) bool {
	return ts.spans() >= e.maxSpans || e.since(ts.opened) >= e.maxAge
}

// mayJoin reports whether a late parent may join a segment holding count
// spans; when it may not, its children's link to it is lost (counted).
func (e *Engine) mayJoin(count uint32) bool {
	if count < e.capSpans {
		return true
	}
	e.stats.LinksLost++
	return false
}
