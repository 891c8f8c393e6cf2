package lifecycleidentityprocessor

import (
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// outSpan is a span as it left the processor.
type outSpan struct {
	trace, origin pcommon.TraceID
	id, parent    pcommon.SpanID
	name          string
	index         int64
	hasIndex      bool
	link          *ptrace.SpanLink
}

func collect(outs []ptrace.Traces) []outSpan {
	var res []outSpan
	for _, td := range outs {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					o := outSpan{trace: sp.TraceID(), origin: sp.TraceID(), id: sp.SpanID(), parent: sp.ParentSpanID(), name: sp.Name()}
					if v, ok := sp.Attributes().Get(originTraceIDAttr); ok {
						b, _ := hex.DecodeString(v.Str())
						copy(o.origin[:], b)
					}
					if v, ok := sp.Attributes().Get(segmentIndexAttr); ok {
						o.index, o.hasIndex = v.Int(), true
					}
					links := sp.Links()
					for l := 0; l < links.Len(); l++ {
						if v, ok := links.At(l).Attributes().Get(linkTypeAttr); ok && v.Str() == linkTypeParent {
							lk := links.At(l)
							o.link = &lk
						}
					}
					res = append(res, o)
				}
			}
		}
	}
	return res
}

// violations lists how the output breaks invariants 1, 2, 4 and 5, and
// (separately) invariant 3. in holds the input spans in arrival order; span
// names are unique.
type violations struct {
	hard   []string // invariants 1, 2, 4, 5
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
	byName := make(map[string]tspan, len(in))
	inIDs := make(map[pcommon.TraceID]map[pcommon.SpanID]bool)
	for _, s := range in {
		byName[s.name] = s
		if inIDs[s.trace] == nil {
			inIDs[s.trace] = map[pcommon.SpanID]bool{}
		}
		inIDs[s.trace][s.id] = true
	}
	out := collect(outs)
	lostParents := map[[2]any]bool{}
	forgotten := windowForgotten(in, out)

	// 1. Nothing lost, nothing doubled.
	seen := make(map[string]int, len(out))
	for _, o := range out {
		seen[o.name]++
	}
	for name := range byName {
		if seen[name] != 1 {
			hard("inv1: span %s left %d times", name, seen[name])
		}
	}
	if len(out) != len(in) {
		hard("inv1: %d spans in, %d out", len(in), len(out))
	}

	// 2. Bounded.
	perTrace := map[pcommon.TraceID]int{}
	members := map[pcommon.TraceID]map[pcommon.SpanID]bool{}
	for _, o := range out {
		perTrace[o.trace]++
		if members[o.trace] == nil {
			members[o.trace] = map[pcommon.SpanID]bool{}
		}
		members[o.trace][o.id] = true
	}
	for t, n := range perTrace {
		if n > 2*maxSpans {
			hard("inv2: trace %s holds %d spans > 2 x %d", t, n, maxSpans)
		}
	}

	for _, o := range out {
		s, ok := byName[o.name]
		if !ok {
			continue
		}
		// 4 and 5. Deterministic IDs, provenance.
		if o.trace != s.trace {
			if !o.hasIndex || o.index < 1 || o.origin != s.trace {
				hard("inv5: moved span %s lacks provenance", o.name)
			} else if segment.SegmentTraceID(segment.TraceID(s.trace), uint64(o.index)) != segment.TraceID(o.trace) {
				hard("inv4: span %s in segment %d has trace ID %s", o.name, o.index, o.trace)
			}
		} else if o.hasIndex {
			hard("inv5: span %s in segment 0 carries an index", o.name)
		}
		// 3. Valid trees.
		switch {
		case o.parent.IsEmpty() && !s.parent.IsEmpty():
			if o.link == nil || o.link.TraceID() != s.trace || o.link.SpanID() != s.parent {
				hard("inv3: re-rooted span %s lacks its parent link", o.name)
			}
		case o.parent != s.parent:
			hard("inv3: span %s parent changed", o.name)
		case !o.parent.IsEmpty() && inIDs[s.trace][s.parent] && !members[o.trace][o.parent] && forgotten[o.name]:
			v.forgotten++
		case !o.parent.IsEmpty() && inIDs[s.trace][s.parent] && !members[o.trace][o.parent]:
			v.broken++
			lostParents[[2]any{s.trace, s.parent}] = true
			v.lost = len(lostParents)
			if len(v.trees) < 20 {
				v.trees = append(v.trees, fmt.Sprintf("inv3: span %s: parent %s not in its output trace", o.name, o.parent))
			}
		}
	}
	return v
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
