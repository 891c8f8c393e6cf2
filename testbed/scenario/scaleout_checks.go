package scenario

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// checks verifies one run: what was sent arrived, where its tenant's
// route says, once, on one replica per trace, in bounded segments. In the
// restart runs they are figures (Info), not verdicts.
func (o *scaleOutOutcome) checks(sh scaleOutShape) {
	r, k, label := o.e.res, o.kind(), o.label
	st := sumStats(o.stats)
	planned := int64(sh.perTenant * len(scaleOutTenants))
	r.check(k, label+": the whole plan was sent and accepted by the agent",
		st.SpansSent == planned && st.SpansAccepted == planned && st.SpansFailed == 0 && st.SpansRejected == 0,
		fmt.Sprintf("planned %d, sent %d, accepted %d, failed %d, rejected %d%s", planned, st.SpansSent, st.SpansAccepted, st.SpansFailed, st.SpansRejected, lastError(st)))

	agentIn, agentOut := o.agentMetrics.Sum(mReceiverAccepted, nil), o.agentMetrics.Sum(mExporterSent, nil)
	var replicasIn, dropped float64
	for _, m := range o.replicaMetrics {
		replicasIn += m.Sum(mReceiverAccepted, nil)
		dropped += m.Sum(mRoutingDropped, nil)
	}
	detail := fmt.Sprintf("agent %s %.0f, %s %.0f; replicas %s %.0f in all; generators accepted %d",
		mReceiverAccepted, agentIn, mExporterSent, agentOut, mReceiverAccepted, replicasIn, st.SpansAccepted)
	if o.restarted >= 0 {
		detail += fmt.Sprintf(" (replica %d's count is its new process's)", o.restarted)
	}
	acc := float64(st.SpansAccepted)
	r.check(k, label+": the agent passed every span to the replicas once", agentIn == acc && agentOut == acc && replicasIn == acc, detail)
	// Without the trace.config attribute the replicas would read no
	// trace config (the header stays at the agent) and drop every span
	// as missing.
	r.check(k, label+": the trace config crossed the agent hop (no span dropped by trace_routing)", dropped == 0,
		fmt.Sprintf("%s on the replicas: %.0f", mRoutingDropped, dropped))

	for d, name := range scaleOutDests {
		want := map[string]int64{}
		for i, t := range scaleOutTenants {
			for _, to := range routeOf(scaleOutRoutes, t.Config) {
				if to == name {
					want[t.Config.Account] = o.stats[i].SpansAccepted
				}
			}
		}
		got := map[string]int64{}
		for rep := range o.backends {
			for acct, n := range o.backends[rep][d].AttributeCounts(attrAccount) {
				got[acct] += n
			}
		}
		r.check(k, fmt.Sprintf("%s: %s received exactly its tenants' spans", label, name), sameCounts(got, want),
			fmt.Sprintf("%s received %s; owed %s", attrAccount, countsText(got), countsText(want)))
		rep := o.reports[d]
		var owed int64
		for _, n := range want {
			owed += n
		}
		r.check(k, fmt.Sprintf("%s: %s: every span exactly once", label, name),
			int64(rep.UniqueSpans) == owed && rep.Duplicates == 0 && rep.UnknownSpans == 0,
			fmt.Sprintf("unique %d of %d owed, duplicates %d, never sent %d", rep.UniqueSpans, owed, rep.Duplicates, rep.UnknownSpans))
		r.check(k, fmt.Sprintf("%s: %s: every segment within max_spans but for late parents, none over 2 x max_spans", label, name),
			rep.OverBoundNotLate == 0 && rep.OverHardBound == 0,
			fmt.Sprintf("largest %d spans (max_spans %d); %d over max_spans, whose spans beyond it are %d late parents and %d others; %d over twice",
				rep.MaxTraceSpans, o.maxSpans, rep.OverBound, rep.LateParents, rep.OverBoundNotLate, rep.OverHardBound))
		r.check(k, fmt.Sprintf("%s: %s: every segment a valid tree, re-rooted spans linked", label, name),
			rep.BrokenParents == 0 && rep.MissingParents == 0 && rep.ParentChanged == 0 && rep.RerootedWithoutLink == 0 && rep.LinkWrongParent == 0 && rep.BadProvenance == 0,
			fmt.Sprintf("%d parents in another trace, %d never arrived, %d changed; %d re-rooted, %d without a link, %d linked elsewhere; %d bad provenance",
				rep.BrokenParents, rep.MissingParents, rep.ParentChanged, rep.Rerooted, rep.RerootedWithoutLink, rep.LinkWrongParent, rep.BadProvenance))
		lcRouted := 0
		for i := range scaleOutTenants {
			if len(want) > 0 && want[scaleOutTenants[i].Config.Account] > 0 {
				lcRouted += sh.lcTraces
			}
		}
		r.check(k, fmt.Sprintf("%s: %s: the long traces were cut", label, name), rep.SplitTraces >= lcRouted,
			fmt.Sprintf("%d traces cut into %d segments (%d lifecycle traces of %d spans routed here)", rep.SplitTraces, rep.Segments, lcRouted, sh.lcSpans))
	}
	o.spread()
}

// spread counts each replica's traces and those that reached both.
func (o *scaleOutOutcome) spread() {
	on := map[pcommon.TraceID]int{} // origin trace -> bit per replica
	for rep := range o.backends {
		for _, b := range o.backends[rep] {
			recs := b.Records()
			for i := range recs {
				on[recs[i].Origin()] |= 1 << rep
			}
		}
	}
	o.perReplica = make([]int, o.replicas)
	for _, bits := range on {
		for rep := range o.replicas {
			if bits&(1<<rep) != 0 {
				o.perReplica[rep]++
			}
		}
		if bits&(bits-1) != 0 {
			o.onBoth++
		}
	}
	if o.replicas < 2 {
		return
	}
	r, k := o.e.res, o.kind()
	r.check(k, o.label+": no trace's spans reached both replicas", o.onBoth == 0,
		fmt.Sprintf("%d traces on both; traces per replica %s", o.onBoth, ints(o.perReplica)))
	if o.mode == noRestart {
		// Two replicas of which one got nothing would make the check
		// above hold trivially.
		r.check(Correctness, o.label+": both replicas received traces", o.perReplica[0] > 0 && o.perReplica[1] > 0,
			fmt.Sprintf("traces per replica %s", ints(o.perReplica)))
	}
}

// compare checks that every destination received the same segment IDs as
// in the one-replica run, and reports the spans placed in another segment.
// In a restart run the differences are figures.
func (o *scaleOutOutcome) compare(one *scaleOutOutcome) {
	r, k := o.e.res, o.kind()
	o.differing = 0
	var missing, extra, moved, spans int
	for d := range scaleOutDests {
		mine, ref := o.segments(d), one.segments(d)
		var diff int
		for tr, segs := range mine {
			if !sameSet(segs, ref[tr]) {
				diff++
			}
		}
		for tr := range ref {
			if _, ok := mine[tr]; !ok {
				diff++
			}
		}
		o.differing += diff
		m, x := setDiff(ref, mine), setDiff(mine, ref)
		missing, extra = missing+m, extra+x
		where := map[[8]byte]pcommon.TraceID{}
		for _, rec := range one.records(d) {
			where[rec.SpanID] = rec.TraceID
		}
		for _, rec := range o.records(d) {
			spans++
			if t, ok := where[rec.SpanID]; ok && t != rec.TraceID {
				moved++
			}
		}
	}
	r.check(k, o.label+": segment IDs identical to the one-replica run", o.differing == 0,
		fmt.Sprintf("%d traces whose segment IDs differ; %d segment IDs of the one-replica run missing, %d not in it", o.differing, missing, extra))
	r.check(Info, o.label+": spans in the same segment as in the one-replica run", true,
		fmt.Sprintf("%d of %d spans in another segment", moved, spans))
}

// segments maps each origin trace to the output trace IDs it became at
// destination d.
func (o *scaleOutOutcome) segments(d int) map[pcommon.TraceID]map[pcommon.TraceID]struct{} {
	out := map[pcommon.TraceID]map[pcommon.TraceID]struct{}{}
	recs := o.records(d)
	for i := range recs {
		tr := recs[i].Origin()
		if out[tr] == nil {
			out[tr] = map[pcommon.TraceID]struct{}{}
		}
		out[tr][recs[i].TraceID] = struct{}{}
	}
	return out
}

// restartFigures reports what the restart did to the restarted replica's
// traces, beside what DESIGN.md leads to expect.
func (o *scaleOutOutcome) restartFigures(one *scaleOutOutcome) {
	r, label := o.e.res, o.label
	o.compare(one)
	if o.restarted < 0 || o.restartErr != nil || len(o.before) != len(scaleOutDests) {
		r.check(Correctness, label+": the replica came back", false, fmt.Sprintf("%v", o.restartErr))
		return
	}
	r.check(Info, label+": the replica accepting again", true,
		fmt.Sprintf("replica %d of %d, %s after the signal; a moment before it, the replica held %d spans it had accepted and not yet delivered",
			o.restarted, o.replicas, o.restartTook.Round(1e6), o.heldAtSignal))
	beforeTr, afterTr := map[pcommon.TraceID]bool{}, map[pcommon.TraceID]bool{}
	beforeSeg, afterSeg := map[pcommon.TraceID]bool{}, map[pcommon.TraceID]bool{}
	for d, b := range o.backends[o.restarted] {
		recs := b.Records()
		for i := range recs {
			rec := &recs[i]
			if i < o.before[d] {
				beforeTr[rec.Origin()], beforeSeg[rec.TraceID] = true, true
			} else {
				afterTr[rec.Origin()], afterSeg[rec.TraceID] = true, true
			}
		}
	}
	across := 0
	for tr := range beforeTr {
		if afterTr[tr] {
			across++
		}
	}
	o.reopened = 0
	notLate, overTwice, largest := 0, 0, 0
	for id := range beforeSeg {
		if afterSeg[id] {
			o.reopened++
		}
	}
	for _, rep := range o.reports {
		largest = max(largest, rep.MaxTraceSpans)
		notLate += rep.OverBoundNotLate
		overTwice += rep.OverHardBound
	}
	var dups int
	for _, rep := range o.reports {
		dups += rep.Duplicates
	}
	lost := o.owed() - o.uniqueDelivered()
	expect := "DESIGN.md: a restart loses the replica's state, so a trace that continues after it starts again at segment 0 (processor README, Limits); SIGTERM drains the queues (nothing lost), "
	if o.mode == crash {
		expect = "DESIGN.md: a restart loses the replica's state, so a trace that continues after it starts again at segment 0; SIGKILL loses what the process held unexported (no persistent queue), and the agent retries what the dead replica never answered, "
	}
	expect += "and the static resolver keeps every trace on its replica"
	r.check(Info, label+": traces of the restarted replica", true,
		fmt.Sprintf("%d traces received spans before and after the restart; %d segments reopened (received spans from both processes); beyond max_spans %d, %d spans that are not late parents and %d segments over twice max_spans (summed over the destinations, tenant 7's twice), the largest %d spans. Expected: %s",
			across, o.reopened, o.maxSpans, notLate, overTwice, largest, expect))
	r.check(Info, label+": spans lost, duplicated", true,
		fmt.Sprintf("%d lost, %d duplicates (over %d owed, a span once per destination it is routed to); the agent's %s %.0f, %s %.0f",
			lost, dups, o.owed(), mExporterSendFailed, o.agentMetrics.Sum(mExporterSendFailed, nil), mExporterEnqFailed, o.agentMetrics.Sum(mExporterEnqFailed, nil)))
}

// row is the run's line in the scale-out table; one is the reference run
// (nil for the reference itself).
func (o *scaleOutOutcome) row(one *scaleOutOutcome) []string {
	var dups, segs, largest int
	for _, rep := range o.reports {
		dups += rep.Duplicates
		segs += rep.Segments
		largest = max(largest, rep.MaxTraceSpans)
	}
	dash := func(n int) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	differing := "reference"
	if one != nil {
		differing = dash(o.differing)
	}
	return []string{o.label, fmt.Sprint(o.owed()), fmt.Sprint(o.uniqueDelivered()), fmt.Sprint(o.owed() - o.uniqueDelivered()), fmt.Sprint(dups),
		ints(o.perReplica), fmt.Sprint(o.onBoth), fmt.Sprint(segs), fmt.Sprint(largest), differing, dash(o.reopened),
		fmt.Sprintf("%.0f", o.agentCPU), fmt.Sprintf("%.0f", o.replicasCPU)}
}

func sameCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, t := range scaleOutTenants {
		if n, ok := m[t.Config.Account]; ok {
			parts = append(parts, fmt.Sprintf("%s: %d", t.Config.Account, n))
		}
	}
	for k, n := range m {
		known := false
		for _, t := range scaleOutTenants {
			known = known || t.Config.Account == k
		}
		if !known {
			parts = append(parts, fmt.Sprintf("%q: %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

func sameSet(a, b map[pcommon.TraceID]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// setDiff counts the output trace IDs of a that b lacks.
func setDiff(a, b map[pcommon.TraceID]map[pcommon.TraceID]struct{}) int {
	n := 0
	for tr, segs := range a {
		for id := range segs {
			if _, ok := b[tr][id]; !ok {
				n++
			}
		}
	}
	return n
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " / ")
}
