package oracle

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func rec(trace, span, parent byte) Span {
	r := Span{TraceID: pcommon.TraceID{trace}, SpanID: pcommon.SpanID{span}, SegmentIndex: -1}
	if parent != 0 {
		r.ParentID = pcommon.SpanID{parent}
	}
	return r
}

func TestAnalyze(t *testing.T) {
	// Input: trace 1 = root 10 with children 11..14. Output: segment 0
	// (trace 1) holds 10, 11, 12; segment 1 (trace 2) holds 13 re-rooted
	// with its link and 14 re-rooted without one.
	moved := func(r Span) Span {
		r.OriginTraceID = "01000000000000000000000000000000"
		r.SegmentIndex = 1
		return r
	}
	r13 := moved(rec(2, 13, 0))
	r13.Links = []Link{{TraceID: pcommon.TraceID{1}, SpanID: pcommon.SpanID{10}, Type: LinkTypeParent}}
	records := []Span{rec(1, 11, 10), rec(1, 12, 10), rec(1, 10, 0), r13, moved(rec(2, 14, 0)), rec(1, 12, 10)}
	// Sent: 11..14 (children of 10) first, the root 10 last.
	sent := sentFrom(map[byte]Sent{11: {Parent: [8]byte{10}, Order: 0}, 12: {Parent: [8]byte{10}, Order: 1},
		13: {Parent: [8]byte{10}, Order: 2}, 14: {Parent: [8]byte{10}, Order: 3}, 10: {Order: 4}})
	rep := Analyze(records, sent, 2)
	if rep.UniqueSpans != 5 || rep.Duplicates != 1 || rep.Traces != 2 || rep.MaxTraceSpans != 3 || rep.OverBound != 1 || rep.OverHardBound != 0 {
		t.Errorf("counts: %+v", rep)
	}
	if rep.Rerooted != 2 || rep.RerootedWithoutLink != 1 || rep.DanglingLinks != 0 || rep.LinkTraceMismatch != 0 {
		t.Errorf("re-rooting: %+v", rep)
	}
	// Trace 1 holds 11, 12 and then 10, their parent, sent after them.
	if rep.LateParents != 1 || rep.OverBoundNotLate != 0 {
		t.Errorf("late parents: %+v", rep)
	}
	if rep.BrokenParents != 0 || rep.MissingParents != 0 || rep.BadProvenance != 0 || rep.ParentChanged != 0 || rep.UnknownSpans != 0 {
		t.Errorf("trees: %+v", rep)
	}
	if rep.SplitTraces != 1 || rep.Segments != 2 || rep.Moved != 2 || rep.SegmentSize.Max != 3 || rep.SegmentSize.Min != 2 {
		t.Errorf("segments: %+v", rep)
	}
	// A child left in another trace than its parent is a broken tree.
	rep = Analyze([]Span{rec(1, 10, 0), moved(rec(2, 11, 10))}, sent, 0)
	if rep.BrokenParents != 1 {
		t.Errorf("broken parents = %d, want 1", rep.BrokenParents)
	}
}

func sentFrom(m map[byte]Sent) func([8]byte) (Sent, bool) {
	return func(id [8]byte) (Sent, bool) {
		if id[1] != 0 {
			return Sent{}, false
		}
		s, ok := m[id[0]]
		return s, ok
	}
}

// TestAnalyzeLinks: a re-rooted span's link must name its original parent
// (with the original trace ID) and carry lifecycle.link.type=parent.
func TestAnalyzeLinks(t *testing.T) {
	link := func(r Span, span byte, typ string) Span {
		r.Links = []Link{{TraceID: pcommon.TraceID{1}, SpanID: pcommon.SpanID{span}, Type: typ}}
		return r
	}
	records := []Span{
		rec(1, 10, 0),
		link(rec(2, 11, 0), 10, LinkTypeParent), // right
		link(rec(2, 12, 0), 9, LinkTypeParent),  // a parent link to another span
		link(rec(2, 13, 0), 10, ""),             // the right span, untyped
		rec(2, 14, 0),                           // no link
		rec(1, 15, 10),                          // sent with parent 9: changed
		rec(1, 9, 0),
		rec(1, 77, 0), // never sent
	}
	sent := sentFrom(map[byte]Sent{10: {}, 9: {}, 11: {Parent: [8]byte{10}}, 12: {Parent: [8]byte{10}},
		13: {Parent: [8]byte{10}}, 14: {Parent: [8]byte{10}}, 15: {Parent: [8]byte{9}}})
	rep := Analyze(records, sent, 0)
	if rep.Rerooted != 4 || rep.LinkWrongParent != 1 || rep.LinkWrongType != 1 || rep.RerootedWithoutLink != 1 ||
		rep.DanglingLinks != 0 || rep.LinkTraceMismatch != 0 {
		t.Errorf("links: %+v", rep)
	}
	if rep.ParentChanged != 1 || rep.UnknownSpans != 1 {
		t.Errorf("parent changed %d (want 1), unknown %d (want 1)", rep.ParentChanged, rep.UnknownSpans)
	}
	// A link with the original parent's span ID but another trace ID.
	bad := link(rec(2, 11, 0), 10, LinkTypeParent)
	bad.OriginTraceID, bad.SegmentIndex = "01000000000000000000000000000000", 1
	bad.Links[0].TraceID = pcommon.TraceID{2}
	rep = Analyze([]Span{rec(1, 10, 0), bad}, sent, 0)
	if rep.LinkTraceMismatch != 1 {
		t.Errorf("trace mismatch = %d, want 1", rep.LinkTraceMismatch)
	}
}

// TestAnalyzeLateParents: beyond max_spans (in send order) an output trace
// may hold only parents sent after one of their children in it.
func TestAnalyzeLateParents(t *testing.T) {
	// Trace 1 holds 20 and 21 (children of 23), 22 (child of 24, absent),
	// 23, and 25, whose only child 26 is in trace 2.
	records := []Span{rec(1, 20, 23), rec(1, 21, 23), rec(1, 22, 24), rec(1, 23, 0), rec(1, 25, 0), rec(2, 26, 0)}
	sent := sentFrom(map[byte]Sent{20: {Parent: [8]byte{23}, Order: 0}, 21: {Parent: [8]byte{23}, Order: 1},
		22: {Parent: [8]byte{24}, Order: 2}, 23: {Order: 3}, 25: {Order: 4}, 26: {Parent: [8]byte{25}, Order: 5}})
	rep := Analyze(records, sent, 2)
	if rep.OverBound != 1 || rep.LateParents != 1 || rep.OverBoundNotLate != 2 {
		t.Errorf("over bound %d (want 1), late parents %d (want 1: 23), not late %d (want 2: 22, 25)", rep.OverBound, rep.LateParents, rep.OverBoundNotLate)
	}
	// Without the send order nothing is claimed.
	if rep := Analyze(records, nil, 2); rep.LateParents != 0 || rep.OverBoundNotLate != 0 {
		t.Errorf("without sent: %+v", rep)
	}
}
