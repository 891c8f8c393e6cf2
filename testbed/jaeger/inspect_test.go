package jaeger

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/oracle"
)

// spec is one span as Jaeger would return it, in both APIs.
type spec struct {
	trace, span, parent byte // parent 0: a root
	sentParent          byte // the parent it was sent with
	link                [2]byte
	origin              byte // provenance: origin trace, 0 for none
	index               int64
	start               int64
}

func tid(b byte) (t pcommon.TraceID) { t[0], t[15] = 0xab, b; return t }
func sid(b byte) (s pcommon.SpanID)  { s[7] = b; return s }
func tidHex(b byte) string           { t := tid(b); return hex.EncodeToString(t[:]) }
func sidHex(b byte) string           { s := sid(b); return hex.EncodeToString(s[:]) }

// build renders specs as Jaeger's two APIs would, one Fetched per trace,
// with tenant as the trace_config.* resource attributes.
func build(specs []spec, tenant map[string]string) []Fetched {
	byTrace := map[byte]*Fetched{}
	var order []byte
	for _, s := range specs {
		f := byTrace[s.trace]
		if f == nil {
			f = &Fetched{ID: tidHex(s.trace), V3: ptrace.NewTraces(),
				V1: V1Trace{TraceID: tidHex(s.trace), Processes: map[string]V1Process{"p1": {ServiceName: "svc"}}}}
			for k, v := range tenant {
				p := f.V1.Processes["p1"]
				p.Tags = append(p.Tags, V1Tag{Key: "trace_config." + k, Type: "string", Value: json.RawMessage(fmt.Sprintf("%q", v))})
				f.V1.Processes["p1"] = p
			}
			rs := f.V3.ResourceSpans().AppendEmpty()
			for k, v := range tenant {
				rs.Resource().Attributes().PutStr("trace_config."+k, v)
			}
			rs.ScopeSpans().AppendEmpty()
			byTrace[s.trace] = f
			order = append(order, s.trace)
		}
		sp := f.V3.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
		sp.SetTraceID(tid(s.trace))
		sp.SetSpanID(sid(s.span))
		v1 := V1Span{TraceID: tidHex(s.trace), SpanID: sidHex(s.span), ProcessID: "p1", StartTime: s.start, Duration: 10}
		if s.parent != 0 {
			sp.SetParentSpanID(sid(s.parent))
			v1.References = append(v1.References, V1Ref{RefType: RefChildOf, TraceID: tidHex(s.trace), SpanID: sidHex(s.parent)})
		}
		if s.link != [2]byte{} {
			l := sp.Links().AppendEmpty()
			l.SetTraceID(tid(s.link[0]))
			l.SetSpanID(sid(s.link[1]))
			l.Attributes().PutStr(oracle.AttrLinkType, oracle.LinkTypeParent)
			v1.References = append(v1.References, V1Ref{RefType: RefFollowsFrom, TraceID: tidHex(s.link[0]), SpanID: sidHex(s.link[1])})
		}
		if s.origin != 0 {
			sp.Attributes().PutStr(oracle.AttrOriginTraceID, tidHex(s.origin))
			sp.Attributes().PutInt(oracle.AttrSegmentIndex, s.index)
			v1.Tags = append(v1.Tags,
				V1Tag{Key: oracle.AttrOriginTraceID, Type: "string", Value: json.RawMessage(fmt.Sprintf("%q", tidHex(s.origin)))},
				V1Tag{Key: oracle.AttrSegmentIndex, Type: "int64", Value: json.RawMessage(fmt.Sprint(s.index))})
		}
		f.V1.Spans = append(f.V1.Spans, v1)
	}
	out := make([]Fetched, len(order))
	for i, t := range order {
		out[i] = *byTrace[t]
	}
	return out
}

// sentOf answers what each spec was sent with; its order is its place.
func sentOf(specs []spec) func([8]byte) (oracle.Sent, bool) {
	m := map[[8]byte]oracle.Sent{}
	for i, s := range specs {
		var p [8]byte
		if s.sentParent != 0 {
			p = sid(s.sentParent)
		}
		m[sid(s.span)] = oracle.Sent{Parent: p, Order: int64(i)}
	}
	return func(id [8]byte) (oracle.Sent, bool) { s, ok := m[id]; return s, ok }
}

// cut is a lifecycle trace cut in two: its root (span 1) and a handler
// subtree in trace 1, a handler re-rooted in segment 1 (trace 2) with its
// child, linked back to the root.
var cut = []spec{
	{trace: 1, span: 2, parent: 1, sentParent: 1, start: 100},
	{trace: 1, span: 3, parent: 2, sentParent: 2, start: 110},
	{trace: 2, span: 4, sentParent: 1, link: [2]byte{1, 1}, origin: 1, index: 1, start: 200},
	{trace: 2, span: 5, parent: 4, sentParent: 4, origin: 1, index: 1, start: 210},
	{trace: 1, span: 1, start: 50},
}

var tenant42 = map[string]string{"account": "42", "zone": "12345"}

func TestInspectCutTrace(t *testing.T) {
	rep := Inspect(build(cut, tenant42), sentOf(cut), 2)
	if rep.Traces != 2 || rep.V1Spans != 5 || rep.V1Unique != 5 || rep.Tree.UniqueSpans != 5 || rep.Tree.UnknownSpans != 0 {
		t.Errorf("spans: %+v", rep)
	}
	if rep.InvalidParent != 0 || rep.Tree.BrokenParents != 0 || rep.Tree.MissingParents != 0 {
		t.Errorf("parents: invalid %d, tree %+v", rep.InvalidParent, rep.Tree)
	}
	if rep.Rerooted != 1 || rep.RerootedWithoutRef != 0 || rep.Tree.Rerooted != 1 || rep.Tree.LinkWrongType != 0 {
		t.Errorf("re-rooted: classic %d (%d without ref), v3 %+v", rep.Rerooted, rep.RerootedWithoutRef, rep.Tree)
	}
	if rep.Provenance != 2 || rep.ProvenanceMismatch != 0 || rep.Tree.Moved != 2 {
		t.Errorf("provenance: %d, mismatch %d, moved %d", rep.Provenance, rep.ProvenanceMismatch, rep.Tree.Moved)
	}
	if rep.WithoutTraceConfig != 0 || rep.Tenants[TenantKey(tenant42)] != 5 || TenantKey(tenant42) != "account=42,zone=12345" {
		t.Errorf("tenants: %v, %d without", rep.Tenants, rep.WithoutTraceConfig)
	}
	lc := Lifecycle(rep.Summaries)
	if len(lc) != 2 || lc[0].TraceID != tidHex(1) || lc[1].TraceID != tidHex(2) || lc[1].Segment != 1 || lc[1].Origin != tidHex(1) {
		t.Fatalf("lifecycle traces: %+v", lc)
	}
	// The root (sent without a parent) is outside the body of its trace.
	if s := lc[0]; s.Start != 50 || s.BodyStart != 100 || s.BodyEnd != 120 || s.End != 120 || s.Spans != 3 {
		t.Errorf("segment 0: %+v", s)
	}
	if s := lc[1]; s.LinksOut != 1 || s.Rerooted != 1 || s.BodyStart != 200 {
		t.Errorf("segment 1: %+v", s)
	}
}

// TestInspectFindsFaults: what the checks must catch, each counted once.
func TestInspectFindsFaults(t *testing.T) {
	traces := build(cut, tenant42)
	seg := &traces[1].V1
	// The re-rooted span's FOLLOWS_FROM reference names another span.
	seg.Spans[0].References[0].SpanID = sidHex(9)
	// The classic API lost a provenance tag of the other.
	seg.Spans[1].Tags = seg.Spans[1].Tags[:1]
	// The query service flagged a span of the first trace.
	traces[0].V1.Spans[1].Warnings = []string{"invalid parent span IDs=0000000000000002; skipping clock skew adjustment"}
	// One trace lost its trace config.
	seg.Processes = map[string]V1Process{"p1": {ServiceName: "svc"}}
	rep := Inspect(traces, sentOf(cut), 2)
	if rep.RerootedWithoutRef != 1 || rep.ProvenanceMismatch != 1 || rep.InvalidParent != 1 || rep.WithoutTraceConfig != 2 {
		t.Errorf("faults: without ref %d, provenance mismatch %d, invalid parent %d, without trace config %d",
			rep.RerootedWithoutRef, rep.ProvenanceMismatch, rep.InvalidParent, rep.WithoutTraceConfig)
	}
	if rep.Warnings["invalid parent span IDs= ..."] != 1 {
		t.Errorf("warnings %v", rep.Warnings)
	}
}

// TestInspectUnsplit: the stock pipeline's one trace: every span in it,
// nothing re-rooted, no provenance.
func TestInspectUnsplit(t *testing.T) {
	whole := []spec{
		{trace: 1, span: 2, parent: 1, sentParent: 1, start: 100},
		{trace: 1, span: 3, parent: 2, sentParent: 2, start: 110},
		{trace: 1, span: 4, parent: 1, sentParent: 1, start: 200},
		{trace: 1, span: 1, start: 50},
	}
	rep := Inspect(build(whole, nil), sentOf(whole), 2)
	if rep.Traces != 1 || rep.Tree.MaxTraceSpans != 4 || rep.Tree.OverBound != 1 || rep.Rerooted != 0 || rep.Provenance != 0 || rep.WithoutTraceConfig != 4 {
		t.Errorf("unsplit: %+v", rep)
	}
	if lc := Lifecycle(rep.Summaries); len(lc) != 1 || lc[0].Spans != 4 {
		t.Errorf("lifecycle: %+v", lc)
	}
}

func TestNormTraceID(t *testing.T) {
	if got := NormTraceID("00F1"); got != "000000000000000000000000000000f1" {
		t.Errorf("got %s", got)
	}
	full := tidHex(3)
	if NormTraceID(full) != full {
		t.Errorf("a full ID changed")
	}
}
