package lifecycleidentityprocessor

import (
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/oracle"
)

// outSpan is a span as it left the processor.
type outSpan struct {
	trace, origin pcommon.TraceID
	id, parent    pcommon.SpanID
	name          string
	index         int64
	hasIndex      bool
	link          *oracle.Link // the parent link, if any
}

func collect(outs []ptrace.Traces) []outSpan {
	recs := oracle.FromTraces(outs...)
	res := make([]outSpan, 0, len(recs))
	for _, r := range recs {
		o := outSpan{trace: r.TraceID, origin: r.TraceID, id: r.SpanID, parent: r.ParentID, name: r.Name}
		if b, err := hex.DecodeString(r.OriginTraceID); err == nil && len(b) == len(o.origin) {
			copy(o.origin[:], b)
		}
		if r.SegmentIndex >= 0 {
			o.index, o.hasIndex = r.SegmentIndex, true
		}
		for l := range r.Links {
			if r.Links[l].Type == oracle.LinkTypeParent {
				o.link = &r.Links[l]
			}
		}
		res = append(res, o)
	}
	return res
}

// violations lists how the output breaks invariants 1, 2, 4 and 5, and
// (separately) invariant 3, as the oracle (internal/oracle) judges it. in
// holds the input spans in arrival order; span names are unique.
type violations struct {
	hard   []string // invariants 1, 2, 4, 5, and re-rooted spans' links
	trees  []string // invariant 3, first few
	broken int      // invariant 3: spans whose parent is elsewhere
	lost   int      // invariant 3: distinct parents their children lost
	// invariant 3: spans whose parent is elsewhere because it arrived in a
	// segment that had left the window (testWindow) when they arrived; not
	// in broken, lost or trees
	forgotten int
}

func checkInvariants(in []tspan, outs []ptrace.Traces, maxSpans int) violations {
	var v violations
	hard := func(f string, a ...any) {
		if len(v.hard) < 20 {
			v.hard = append(v.hard, fmt.Sprintf(f, a...))
		}
	}
	order := make(map[string]int, len(in))
	for i, s := range in {
		order[s.name] = i
	}
	recs := oracle.FromTraces(outs...)

	// 1. Nothing lost, nothing doubled (by name: span IDs may repeat).
	seen := make(map[string]int, len(recs))
	for _, r := range recs {
		seen[r.Name]++
	}
	for name := range order {
		if seen[name] != 1 {
			hard("inv1: span %s left %d times", name, seen[name])
		}
	}
	if len(recs) != len(in) {
		hard("inv1: %d spans in, %d out", len(in), len(recs))
	}

	rep := oracle.AnalyzeBy(recs, func(r *oracle.Span) (oracle.Sent, bool) {
		i, ok := order[r.Name]
		if !ok {
			return oracle.Sent{}, false
		}
		return oracle.Sent{Parent: in[i].parent, Order: int64(i)}, true
	}, maxSpans)
	for _, c := range []struct {
		n    int
		what string
	}{
		{rep.OverHardBound, "inv2: traces over 2 x max_spans"},
		{overNotLate(rep, in), "inv2: spans beyond max_spans that are not late parents"},
		{rep.WrongSegmentID, "inv4: moved spans whose trace ID is not the segment's"},
		{rep.BadProvenance, "inv5: spans with inconsistent provenance"},
		{rep.ParentChanged, "inv3: spans whose parent changed"},
		{rep.RerootedWithoutLink, "inv3: re-rooted spans without their parent link"},
		{rep.LinkWrongParent, "inv3: parent links to another span"},
		{rep.LinkWrongType, "inv3: parent links without their type"},
		{rep.LinkTraceMismatch, "inv3: parent links with the wrong trace ID"},
		{rep.UnknownSpans, "inv1: spans never sent"},
	} {
		if c.n > 0 {
			hard("%s: %d", c.what, c.n)
		}
	}

	// 3. Valid trees, but for parents that left the window.
	forgotten := windowForgotten(in, collect(outs))
	lostParents := map[[2]any]bool{}
	for _, i := range rep.Broken {
		r := &recs[i]
		if forgotten[r.Name] {
			v.forgotten++
			continue
		}
		v.broken++
		lostParents[[2]any{in[order[r.Name]].trace, r.ParentID}] = true
		if len(v.trees) < 20 {
			v.trees = append(v.trees, fmt.Sprintf("inv3: span %s: parent %s not in its output trace", r.Name, r.ParentID))
		}
	}
	v.lost = len(lostParents)
	return v
}

// overNotLate is rep.OverBoundNotLate where it is defined: a late parent is
// one sent after a child of its, which needs span IDs that do not repeat
// within a trace.
func overNotLate(rep oracle.TreeReport, in []tspan) int {
	if !uniqueIDs(in) {
		return 0
	}
	return rep.OverBoundNotLate
}

// windowForgotten returns the names of the spans whose parent had left the
// window of closed segments (splitstate.go) when they arrived, from the
// arrival order and the segment each span landed in. The current segment of
// a trace when a span arrives is the highest segment any of its spans so far
// (this one included) landed in. A parent that landed in the current segment
// c went into generation c / genSegs when c closed; one that joined a closed
// segment (a late parent) went into the newest generation, that of c-1.
// Generation G is forgotten when segment (G + gens) x genSegs closes, that is
// before the first span of the segment after it is placed.
func windowForgotten(in []tspan, out []outSpan) map[string]bool {
	seg := make(map[string]uint64, len(out))
	for _, o := range out {
		seg[o.name] = uint64(o.index)
	}
	gs, gens := testWindow.genSegs, uint64(testWindow.gens)
	cur := map[pcommon.TraceID]uint64{}
	type arrived struct{ cur, seg uint64 }
	at := map[[2]any]arrived{} // (trace, span ID) of spans arrived so far
	res := map[string]bool{}
	for _, s := range in {
		k := seg[s.name]
		c := max(cur[s.trace], k)
		cur[s.trace] = c
		if a, ok := at[[2]any{s.trace, s.parent}]; ok && !s.parent.IsEmpty() {
			g := a.cur / gs
			if a.seg < a.cur {
				g = (a.cur - 1) / gs
			}
			if c >= (g+gens)*gs+1 {
				res[s.name] = true
			}
		}
		at[[2]any{s.trace, s.id}] = arrived{c, k}
	}
	return res
}
