package scenario

import (
	"fmt"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"

	"github.com/tracebound/tracebound/internal/oracle"
)

var lifecycle = Scenario{
	Name:  "lifecycle",
	Title: "One long-lived trace among ordinary traces: bounded segments, valid trees, links",
	Needs: []need{{"processors", "lifecycle_identity"}},
	run:   runLifecycle,
}

const lifecycleMaxSpans = 2000

func runLifecycle(e *Env) error {
	lcSpans := pick(e, 200_000, 20_000)
	traces := pick(e, 10_000, 1_000)
	total := lcSpans + traces*10
	rate := e.rate(pick(e, 30_000, 10_000))
	// The run is bounded by its spans; the duration is only a ceiling.
	d := e.duration(time.Duration(float64(total)/float64(rate)*float64(time.Second))*2 + 10*time.Second)
	e.res.extra("lifecycle_spans", lcSpans)
	e.res.extra("ordinary_traces", traces)
	e.res.extra("max_spans", lifecycleMaxSpans)
	for _, p := range []string{Tracebound, Baseline} {
		if err := e.lifecycleRun(p, rate, d, lcSpans, traces, total); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) lifecycleRun(pipeline string, rate int, d time.Duration, lcSpans, traces, total int) error {
	bs, err := newBackends(mockbackend.Options{Name: "main", Record: true})
	if err != nil {
		return err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	load := loadgen.Config{
		Rate:            rate,
		Duration:        d,
		SpansPerRequest: 500,
		// One worker sends the requests one after the other, so the
		// collector receives the spans in the order the generator recorded:
		// the bound check tells late parents from the rest by that order.
		Workers: 1,
		Trace: loadgen.TraceShape{SpansPerTrace: 10, Traces: traces,
			Lifecycle: loadgen.LifecycleShape{Traces: 1, SpansPerTrace: lcSpans, HandlerSpans: 3}},
		Identity:      &loadgen.Identity{Component: "worker", Solution: "queue", Revision: 7, Processes: 1},
		RecordParents: true,
	}
	spec := e.pipeline(pipeline, main)
	if pipeline == Tracebound {
		spec.Lifecycle, spec.MaxSpans = true, lifecycleMaxSpans
	}
	routeAll(&spec, &load, "main")
	l, err := e.launch(pipeline+" lifecycle", pipeline, spec, bs...)
	if err != nil {
		return err
	}
	run, _, g, m, err := l.runPlan(load, rate, total)
	if err != nil {
		return err
	}
	r := e.res
	rep := oracle.Analyze(bs[0].Records(), sentBy(g), lifecycleMaxSpans)
	r.extra(pipeline+"_trees", rep)
	if pipeline == Baseline {
		r.check(Info, run.Label+": largest trace at the backend", true,
			fmt.Sprintf("%d spans in one trace (Jaeger/Elasticsearch stops at 10,000, Dash0 at 2,000)", rep.MaxTraceSpans))
		return nil
	}
	r.check(Correctness, run.Label+": every span arrives exactly once",
		rep.UniqueSpans == total && rep.Duplicates == 0 && rep.UnknownSpans == 0,
		fmt.Sprintf("unique %d of %d, duplicates %d, never sent %d", rep.UniqueSpans, total, rep.Duplicates, rep.UnknownSpans))
	// DESIGN.md invariant 2: beyond max_spans a segment holds only parents
	// that arrived after one of their children there, and never more than
	// twice max_spans.
	r.check(Correctness, run.Label+": no trace over max_spans but for late parents, none over 2 x max_spans",
		rep.OverBoundNotLate == 0 && rep.OverHardBound == 0 && rep.MaxTraceSpans <= 2*lifecycleMaxSpans,
		fmt.Sprintf("largest trace %d spans; %d over max_spans %d, whose %d spans beyond it (in send order) are %d parents sent after a child in the same trace and %d others; %d over twice",
			rep.MaxTraceSpans, rep.OverBound, lifecycleMaxSpans, rep.LateParents+rep.OverBoundNotLate, rep.LateParents, rep.OverBoundNotLate, rep.OverHardBound))
	r.check(Correctness, run.Label+": every segment is a valid tree",
		rep.BrokenParents == 0 && rep.MissingParents == 0 && rep.ParentChanged == 0,
		fmt.Sprintf("%d spans whose parent is in another trace, %d whose parent never arrived, %d with another parent than the one sent", rep.BrokenParents, rep.MissingParents, rep.ParentChanged))
	// Handler spans in segments after the first have their parent, the
	// lifecycle root, in segment 0: a cut trace has re-rooted spans, so a
	// count of 0 means the links were never checked.
	r.check(Correctness, run.Label+": re-rooted spans link to their original parent",
		rep.Rerooted > 0 && rep.RerootedWithoutLink == 0 && rep.LinkWrongParent == 0 && rep.LinkWrongType == 0 && rep.DanglingLinks == 0 && rep.LinkTraceMismatch == 0,
		fmt.Sprintf("%d re-rooted, %d without a link, %d linked to another span than their original parent, %d whose link lacks %s=%s, %d links to spans that never arrived, %d links with the wrong trace ID",
			rep.Rerooted, rep.RerootedWithoutLink, rep.LinkWrongParent, rep.LinkWrongType, oracle.AttrLinkType, oracle.LinkTypeParent, rep.DanglingLinks, rep.LinkTraceMismatch))
	r.check(Correctness, run.Label+": provenance attributes on moved spans", rep.BadProvenance == 0,
		fmt.Sprintf("%d spans with inconsistent %s / %s", rep.BadProvenance, oracle.AttrOriginTraceID, oracle.AttrSegmentIndex))
	wantSegments := lcSpans / lifecycleMaxSpans
	r.check(Correctness, run.Label+": the long-lived trace was cut",
		rep.SplitTraces >= 1 && rep.Segments >= wantSegments,
		fmt.Sprintf("%d traces cut into %d segments (at least %d expected)", rep.SplitTraces, rep.Segments, wantSegments))
	r.check(Info, run.Label+": segment sizes", true,
		fmt.Sprintf("%d segments: min %d, p50 %d, p90 %d, max %d, mean %.0f", rep.SegmentSize.Count, rep.SegmentSize.Min, rep.SegmentSize.P50, rep.SegmentSize.P90, rep.SegmentSize.Max, rep.SegmentSize.Mean))
	// The processor's own counters against what the backend received.
	for _, c := range []struct {
		what, metric string
		backend      int
	}{
		{"segments opened", mLifecycleSegments, rep.Segments - rep.SplitTraces},
		{"spans moved", mLifecycleMoved, rep.Moved},
		{"spans re-rooted", mLifecycleRerooted, rep.Rerooted},
	} {
		ok, det := eq(c.metric, m.Sum(c.metric, nil), float64(c.backend))
		r.check(Correctness, fmt.Sprintf("%s: %s counted as the backend saw them", run.Label, c.what), ok, det)
	}
	r.check(Info, run.Label+": parent links lost", true,
		fmt.Sprintf("%s: %.0f", mLifecycleLinksLost, m.Sum(mLifecycleLinksLost, nil)))
	return nil
}

// runPlan sends a load bounded by its plan of total spans, waits until the
// backends hold what was accepted (or delivery stalls), stops the collector,
// and checks the whole plan was sent and accepted and the pipeline's
// accounting (every accepted span delivered once, metrics matching).
func (l *live) runPlan(load loadgen.Config, rate, total int) (Run, loadgen.Stats, *loadgen.Generator, collector.Metrics, error) {
	st, g, err := l.load(l.e.ctx, load, 0)
	if err != nil {
		l.finish(float64(rate), st)
		return Run{}, st, nil, nil, err
	}
	l.settle(func() bool { return l.delivered() >= st.SpansAccepted }, 5*time.Second, 60*time.Second)
	run, m := l.finish(float64(rate), st)
	l.e.res.check(Correctness, run.Label+": the whole plan was sent and accepted",
		st.SpansSent == int64(total) && st.SpansAccepted == int64(total),
		fmt.Sprintf("planned %d, sent %d, accepted %d, failed %d%s", total, st.SpansSent, st.SpansAccepted, st.SpansFailed, lastError(st)))
	l.e.pipelineAccounting(run, st, m, 1)
	return run, st, g, m, nil
}

// sentBy answers, for the invariant checks, what g sent of a span.
func sentBy(g *loadgen.Generator) func([8]byte) (oracle.Sent, bool) {
	return func(id [8]byte) (oracle.Sent, bool) {
		p, o, ok := g.Sent(id)
		return oracle.Sent{Parent: p, Order: o}, ok
	}
}
