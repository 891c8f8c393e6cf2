package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tracebound/tracebound/testbed/jaeger"
	"github.com/tracebound/tracebound/testbed/loadgen"

	"github.com/tracebound/tracebound/internal/oracle"
)

// realChecks checks what Jaeger returned of one run's traces.
func (e *Env) realChecks(label, pipeline string, rep jaeger.Report, st loadgen.Stats, total, lcSpans int) {
	r := e.res
	t := rep.Tree
	r.check(Correctness, label+": every span sent is in Jaeger exactly once",
		t.UniqueSpans == total && t.Duplicates == 0 && t.UnknownSpans == 0 && rep.V1Spans == total && rep.V1Unique == total,
		fmt.Sprintf("%d traces; API v3: %d distinct spans of %d sent, %d duplicates, %d never sent; classic API: %d spans, %d distinct",
			rep.Traces, t.UniqueSpans, total, t.Duplicates, t.UnknownSpans, rep.V1Spans, rep.V1Unique))
	r.check(Correctness, label+": Jaeger flags no span whose parent is missing from its trace",
		rep.InvalidParent == 0 && rep.V3MissingParent == 0 && t.BrokenParents == 0 && t.MissingParents == 0 && t.ParentChanged == 0,
		fmt.Sprintf("classic API: %d spans with %q; API v3: %d with \"parent span ID=... is not in the trace\"; %d spans whose parent is in another trace, %d whose parent never arrived, %d with another parent than sent",
			rep.InvalidParent, jaeger.WarnInvalidParent+"...", rep.V3MissingParent, t.BrokenParents, t.MissingParents, t.ParentChanged))
	if len(rep.Warnings) > 0 {
		r.check(Info, label+": warnings of Jaeger's query service, spans by text", true, tenants(rep.Warnings))
	}
	lc := jaeger.Lifecycle(rep.Summaries)
	if pipeline == Baseline {
		largest := 0
		if len(lc) > 0 {
			largest = lc[0].Spans
		}
		// The premise of the comparison: without tracebound, Jaeger holds
		// the lifecycle trace as one trace that grows with uptime.
		r.check(Correctness, label+": Jaeger holds the lifecycle trace as one trace of all its spans",
			len(lc) == 1 && largest == lcSpans,
			fmt.Sprintf("%d traces hold the lifecycle trace, the largest %d spans (%d sent); %s", len(lc), largest, lcSpans, fetchDetail(lc)))
		return
	}

	r.check(Correctness, label+": the lifecycle trace is cut into segments",
		t.SplitTraces >= 1 && t.Segments >= lcSpans/realMaxSpans && len(lc) == t.Segments,
		fmt.Sprintf("%d traces cut into %d segments (at least %d expected), %d of them the lifecycle trace's", t.SplitTraces, t.Segments, lcSpans/realMaxSpans, len(lc)))
	r.check(Correctness, label+": every trace in Jaeger holds at most max_spans, save late parents, never over twice",
		t.OverBoundNotLate == 0 && t.OverHardBound == 0 && t.MaxTraceSpans <= 2*realMaxSpans,
		fmt.Sprintf("largest trace %d spans; %d over max_spans %d, whose %d spans beyond it (in send order) are %d parents sent after a child in the same trace and %d others; %d over twice; segments: min %d, p50 %d, max %d",
			t.MaxTraceSpans, t.OverBound, realMaxSpans, t.LateParents+t.OverBoundNotLate, t.LateParents, t.OverBoundNotLate, t.OverHardBound, t.SegmentSize.Min, t.SegmentSize.P50, t.SegmentSize.Max))
	r.check(Correctness, label+": re-rooted spans link to their original trace and parent, in both APIs",
		t.Rerooted > 0 && t.RerootedWithoutLink == 0 && t.LinkWrongParent == 0 && t.LinkWrongType == 0 && t.DanglingLinks == 0 && t.LinkTraceMismatch == 0 &&
			rep.Rerooted == t.Rerooted && rep.RerootedWithoutRef == 0,
		fmt.Sprintf("API v3: %d re-rooted, %d without a link, %d linked to another span, %d whose link lacks %s=%s, %d links to spans that never arrived, %d with the wrong trace ID; classic API: %d shown as roots though sent with a parent, %d without a FOLLOWS_FROM reference to the original parent in the original trace",
			t.Rerooted, t.RerootedWithoutLink, t.LinkWrongParent, t.LinkWrongType, oracle.AttrLinkType, oracle.LinkTypeParent, t.DanglingLinks, t.LinkTraceMismatch, rep.Rerooted, rep.RerootedWithoutRef))
	r.check(Correctness, label+": provenance attributes visible on every moved span",
		t.Moved > 0 && t.BadProvenance == 0 && rep.Provenance == t.Moved && rep.ProvenanceMismatch == 0,
		fmt.Sprintf("API v3: %d spans moved to segments >= 1, %d with inconsistent %s / %s; classic API: %d spans show both as tags, %d disagree with API v3",
			t.Moved, t.BadProvenance, oracle.AttrOriginTraceID, oracle.AttrSegmentIndex, rep.Provenance, rep.ProvenanceMismatch))
	want := map[string]int{}
	for i, tc := range realTenants {
		if i < len(st.ByConfig) {
			want[jaeger.TenantKey(map[string]string{"account": tc.Account, "zone": tc.Zone})] += int(st.ByConfig[i])
		}
	}
	r.check(Correctness, label+": every span shows its tenant's trace_config.* attributes",
		rep.WithoutTraceConfig == 0 && maps.Equal(rep.Tenants, want),
		fmt.Sprintf("spans by trace_config.* process tags %s, sent %s; %d spans without", tenants(rep.Tenants), tenants(want), rep.WithoutTraceConfig))
	r.check(Info, label+": reading the lifecycle trace back", true, fetchDetail(lc))
}

// fetchDetail says what reading traces through the classic API, as Jaeger's
// UI does, cost.
func fetchDetail(ts []jaeger.TraceSummary) string {
	var bytes, largest int
	var ms float64
	for _, t := range ts {
		bytes += t.V1.Bytes
		largest = max(largest, t.V1.Bytes)
		ms += t.V1.Took.Seconds() * 1000
	}
	return fmt.Sprintf("GET /api/traces/{id} of its %d traces: %s in all, %.0f ms in all, the largest answer %s", len(ts), mib(bytes), ms, mib(largest))
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// tenants renders span counts by tenant (or by any key), keys sorted.
func tenants(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

// realTable sets what Jaeger shows of the same input side by side.
func realTable(tb, base realRun, lcSpans int) Table {
	row := func(what string, f func(realRun) string) []string { return []string{what, f(tb), f(base)} }
	lc := func(r realRun) []jaeger.TraceSummary { return jaeger.Lifecycle(r.rep.Summaries) }
	largest := func(ts []jaeger.TraceSummary) jaeger.TraceSummary {
		var l jaeger.TraceSummary
		for _, t := range ts {
			if t.Spans > l.Spans {
				l = t
			}
		}
		return l
	}
	return Table{
		Title:  fmt.Sprintf("What Jaeger's query API returns of the same input (one lifecycle trace of %d spans, max_spans %d)", lcSpans, realMaxSpans),
		Header: []string{"", tb.label, base.label},
		Rows: [][]string{
			row("traces of the load generator's service", func(r realRun) string { return fmt.Sprint(r.rep.Traces) }),
			row("traces holding the lifecycle trace's spans", func(r realRun) string { return fmt.Sprint(len(lc(r))) }),
			row("largest trace, spans", func(r realRun) string { return fmt.Sprint(r.rep.Tree.MaxTraceSpans) }),
			row("spans flagged `invalid parent span IDs=...`", func(r realRun) string { return fmt.Sprint(r.rep.InvalidParent) }),
			row("spans sent with a parent, shown as roots / of them with a FOLLOWS_FROM reference to it", func(r realRun) string {
				return fmt.Sprintf("%d / %d", r.rep.Rerooted, r.rep.Rerooted-r.rep.RerootedWithoutRef)
			}),
			row("spans showing lifecycle.segment.* provenance tags", func(r realRun) string { return fmt.Sprint(r.rep.Provenance) }),
			row("spans showing trace_config.* process tags", func(r realRun) string {
				return fmt.Sprintf("%d %s", r.rep.V1Spans-r.rep.WithoutTraceConfig, tenants(r.rep.Tenants))
			}),
			row("the lifecycle trace's largest trace (in spans) through GET /api/traces/{id}, the UI's request", func(r realRun) string {
				l := largest(lc(r))
				return fmt.Sprintf("%d spans, %s, %.0f ms", l.Spans, mib(l.V1.Bytes), l.V1.Took.Seconds()*1000)
			}),
			row("all of the lifecycle trace through GET /api/traces/{id}", func(r realRun) string { return fetchDetail(lc(r)) }),
		},
	}
}
