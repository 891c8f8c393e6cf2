package jaeger

import (
	"encoding/hex"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/oracle"
)

// Fetched is one trace as Jaeger's query API returned it, through both APIs.
type Fetched struct {
	ID   string
	V1   V1Trace
	V3   ptrace.Traces
	V1At Fetch
	V3At Fetch
}

// Warning texts of Jaeger's query service.
const (
	// WarnInvalidParent is how the classic API flags a span whose parent
	// is not in its trace: "invalid parent span IDs=<id>; skipping clock
	// skew adjustment".
	WarnInvalidParent = "invalid parent span IDs="
	// warnV3MissingParent is API v3's: "parent span ID=<id> is not in the
	// trace; ...", in the span attribute warningsAttr.
	warnV3MissingParent = "is not in the trace"
	warningsAttr        = "@jaeger@warnings"
)

// traceConfigPrefix starts the resource attributes trace_routing stamps.
const traceConfigPrefix = "trace_config."

// Report is what Jaeger shows of a set of traces.
type Report struct {
	Traces int `json:"traces"`
	// Tree is the invariant checks of DESIGN.md on the spans API v3
	// returned (links with their attributes).
	Tree oracle.TreeReport `json:"tree"`
	// V1Spans counts the spans of the classic API, V1Unique the distinct
	// ones.
	V1Spans  int `json:"v1_spans"`
	V1Unique int `json:"v1_unique"`
	// InvalidParent counts the spans the classic API flagged with
	// WarnInvalidParent; V3MissingParent those API v3 flagged the same way.
	InvalidParent   int `json:"invalid_parent"`
	V3MissingParent int `json:"v3_missing_parent"`
	// Warnings counts every warning of the classic API by its text up to
	// its first digit (the IDs and durations in it vary).
	Warnings map[string]int `json:"warnings,omitempty"`
	// Rerooted counts the spans sent with a parent that the classic API
	// shows without a CHILD_OF reference; RerootedWithoutRef those of them
	// without a FOLLOWS_FROM reference to their original parent in their
	// original trace.
	Rerooted           int `json:"rerooted"`
	RerootedWithoutRef int `json:"rerooted_without_ref"`
	// Provenance counts the spans whose classic tags show both provenance
	// attributes; ProvenanceMismatch those whose tags disagree with the
	// attributes API v3 returned (absent in one, or other values).
	Provenance         int `json:"provenance"`
	ProvenanceMismatch int `json:"provenance_mismatch"`
	// Tenants counts the spans by their trace_config.* process tags
	// ("account=42,zone=12345"); WithoutTraceConfig those with none.
	Tenants            map[string]int `json:"tenants,omitempty"`
	WithoutTraceConfig int            `json:"without_trace_config"`
	// Summaries is one line per trace, largest first.
	Summaries []TraceSummary `json:"summaries"`
}

// TraceSummary is one trace as the query API showed it, for the report
// and the picture.
type TraceSummary struct {
	TraceID string `json:"trace_id"`
	Spans   int    `json:"spans"`
	// Start and End bound its spans (unix µs); BodyStart and BodyEnd the
	// spans that were not sent as roots (a lifecycle root spans the whole
	// life of its process and would hide where its handlers are).
	Start     int64 `json:"start_us"`
	End       int64 `json:"end_us"`
	BodyStart int64 `json:"body_start_us"`
	BodyEnd   int64 `json:"body_end_us"`
	// Origin is the trace it came from (its provenance, else itself);
	// Segment its lifecycle.segment.index (0 without one).
	Origin  string `json:"origin"`
	Segment int64  `json:"segment"`
	// LinksOut counts FOLLOWS_FROM references to spans of other traces;
	// Rerooted its spans sent with a parent and shown without one.
	LinksOut      int `json:"links_out"`
	Rerooted      int `json:"rerooted"`
	InvalidParent int `json:"invalid_parent"`
	// V1 and V3 are what reading it cost through each API.
	V1 Fetch `json:"v1"`
	V3 Fetch `json:"v3"`
}

// Inspect checks the traces Jaeger returned against what was sent (sent:
// a span's parent and place in the send order; nil when unknown) with
// split.max_spans maxSpans (0: the bound is not checked).
func Inspect(traces []Fetched, sent func([8]byte) (oracle.Sent, bool), maxSpans int) Report {
	rep := Report{Traces: len(traces), Warnings: map[string]int{}, Tenants: map[string]int{}}
	var records []oracle.Span
	v3 := map[string]oracle.Span{} // hex span ID -> record
	for _, t := range traces {
		for _, rs := range t.V3.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					r := oracle.FromSpan(sp, false)
					records = append(records, r)
					v3[hex.EncodeToString(r.SpanID[:])] = r
					if w, ok := sp.Attributes().Get(warningsAttr); ok && strings.Contains(w.AsString(), warnV3MissingParent) {
						rep.V3MissingParent++
					}
				}
			}
		}
	}
	rep.Tree = oracle.Analyze(records, sent, maxSpans)

	seen := map[string]struct{}{}
	for _, t := range traces {
		s := TraceSummary{TraceID: t.ID, Spans: len(t.V1.Spans), Origin: t.ID, V1: t.V1At, V3: t.V3At}
		for i := range t.V1.Spans {
			sp := &t.V1.Spans[i]
			rep.V1Spans++
			seen[sp.SpanID] = struct{}{}
			rep.span(&s, sp, t.V1.Processes[sp.ProcessID], v3, sent)
		}
		rep.Summaries = append(rep.Summaries, s)
	}
	rep.V1Unique = len(seen)
	sort.SliceStable(rep.Summaries, func(i, j int) bool { return rep.Summaries[i].Spans > rep.Summaries[j].Spans })
	return rep
}

// span adds one span of the classic API to the report and to its trace's
// summary.
func (rep *Report) span(s *TraceSummary, sp *V1Span, proc V1Process, v3 map[string]oracle.Span,
	sent func([8]byte) (oracle.Sent, bool)) {
	end := sp.StartTime + sp.Duration
	if s.Start == 0 || sp.StartTime < s.Start {
		s.Start = sp.StartTime
	}
	s.End = max(s.End, end)

	for _, w := range sp.Warnings {
		key := w
		if i := strings.IndexAny(w, "0123456789"); i >= 0 {
			key = strings.TrimSpace(w[:i]) + " ..."
		}
		rep.Warnings[key]++
		if strings.HasPrefix(w, WarnInvalidParent) {
			rep.InvalidParent++
			s.InvalidParent++
		}
	}

	var parent string
	for _, r := range sp.References {
		switch {
		case r.RefType == RefChildOf && NormTraceID(r.TraceID) == s.TraceID:
			parent = r.SpanID
		case r.RefType == RefFollowsFrom && NormTraceID(r.TraceID) != s.TraceID:
			s.LinksOut++
		}
	}

	origin, index := tag(sp.Tags, oracle.AttrOriginTraceID), tag(sp.Tags, oracle.AttrSegmentIndex)
	if origin != "" && index != "" {
		rep.Provenance++
		s.Origin = origin
		s.Segment, _ = strconv.ParseInt(index, 10, 64)
	}
	r, ok := v3[sp.SpanID]
	v3Index := ""
	if ok && r.SegmentIndex != -1 {
		v3Index = strconv.FormatInt(r.SegmentIndex, 10)
	}
	if !ok || r.OriginTraceID != origin || v3Index != index {
		rep.ProvenanceMismatch++
	}

	tenant := traceConfig(proc.Tags)
	if tenant == "" {
		rep.WithoutTraceConfig++
	} else {
		rep.Tenants[tenant]++
	}

	var was oracle.Sent
	known := false
	if id, err := hex.DecodeString(sp.SpanID); err == nil && len(id) == 8 && sent != nil {
		was, known = sent([8]byte(id))
	}
	if !known || was.Parent == ([8]byte{}) {
		// Sent as a root (or unknown): not part of the body of its trace.
		return
	}
	if s.BodyStart == 0 || sp.StartTime < s.BodyStart {
		s.BodyStart = sp.StartTime
	}
	s.BodyEnd = max(s.BodyEnd, end)
	if parent != "" {
		return
	}
	rep.Rerooted++
	s.Rerooted++
	// The link to the original parent names the parent's original trace:
	// the span's origin when it was moved, else its own trace.
	want := NormTraceID(s.TraceID)
	if origin != "" {
		want = NormTraceID(origin)
	}
	for _, r := range sp.References {
		if r.RefType == RefFollowsFrom && r.SpanID == hex.EncodeToString(was.Parent[:]) && NormTraceID(r.TraceID) == want {
			return
		}
	}
	rep.RerootedWithoutRef++
}

// tag is the value of the tag named key, "" when absent.
func tag(tags []V1Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.String()
		}
	}
	return ""
}

// traceConfig renders the trace_config.* tags of a process as
// "account=42,zone=12345" (keys sorted); "" when it has none.
func traceConfig(tags []V1Tag) string {
	var parts []string
	for _, t := range tags {
		if k, ok := strings.CutPrefix(t.Key, traceConfigPrefix); ok {
			parts = append(parts, k+"="+t.String())
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// TenantKey renders trace config fields as Report.Tenants keys them.
func TenantKey(fields map[string]string) string {
	var parts []string
	for k, v := range fields {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Lifecycle returns the traces of the largest input trace (the origin whose
// traces hold the most spans), segment 0 first: a lifecycle trace, whole or
// cut.
func Lifecycle(summaries []TraceSummary) []TraceSummary {
	spans := map[string]int{}
	for _, s := range summaries {
		spans[s.Origin] += s.Spans
	}
	best := ""
	for _, s := range summaries {
		if best == "" || spans[s.Origin] > spans[best] {
			best = s.Origin
		}
	}
	var out []TraceSummary
	for _, s := range summaries {
		if s.Origin == best {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Segment < out[j].Segment })
	return out
}
