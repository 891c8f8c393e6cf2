package scenario

import (
	"fmt"
	"math"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var routing = Scenario{
	Name:  "routing",
	Title: "Three destinations, one failing (503) and one slow, each request copied to healthy and to the failing or slow one or both: the healthy one gets all it is owed",
	Needs: []need{{"processors", "trace_routing"}, {"exporters", "destinations"}},
	run:   runRouting,
}

const (
	attrAccount     = "trace_config.account"
	attrDestination = "trace_config.destination"
)

var routingDests = []string{"healthy", "failing", "slow"}

// routingSets are the destinations each routed request names, in turn:
// every one names healthy beside the failing one, the slow one or both, so
// the collector sends copies, and a copy held by a failing or slow
// destination must not hold back the healthy one's.
var routingSets = [][]string{{"healthy", "failing"}, {"healthy", "slow"}, {"healthy", "failing", "slow"}}

func runRouting(e *Env) error {
	rate := e.rate(pick(e, 20_000, 3_000))
	d := e.duration(pick(e, 15*time.Second, 3*time.Second))
	slow := pick(e, time.Second, 300*time.Millisecond)
	e.res.extra("slow_delay_ms", slow.Milliseconds())
	for _, p := range []string{Tracebound, Baseline} {
		if err := e.routingRun(p, rate, d, slow); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) routingRun(pipeline string, rate int, d, slow time.Duration) error {
	var opts []mockbackend.Options
	for _, n := range routingDests {
		opts = append(opts, mockbackend.Options{Name: n, CountAttributes: []string{attrAccount, attrDestination}})
	}
	bs, err := newBackends(opts...)
	if err != nil {
		return err
	}
	defer closeAll(bs...)
	healthy, failing, slowB := bs[0], bs[1], bs[2]
	failing.Fail(503, 0)
	slowB.SetDelay(slow)
	dests := []dest{
		{Name: "healthy", URL: healthy.URL},
		// The failing destination gives up after 2s, so its loss is final
		// (and counted) soon after the load ends.
		{Name: "failing", URL: failing.URL, RetryMaxElapsed: 2 * time.Second},
		{Name: "slow", URL: slowB.URL, Timeout: 10 * time.Second, QueueSize: 5000},
	}
	load := standardLoad(rate, d)
	spec := e.pipeline(pipeline, dests...)
	if pipeline == Tracebound {
		load.Routing = &loadgen.Routing{Sets: routingSets, Account: "acct-1", Zone: "zone-1", Workspace: "ws-1", MissingEvery: 10}
	}
	l, err := e.launch(pipeline+" routing (healthy dest.)", pipeline, spec, bs...)
	if err != nil {
		return err
	}
	st, _, err := l.load(e.ctx, load, 0)
	if err != nil {
		l.finish(float64(rate), st)
		return err
	}
	healthyAtEnd := healthy.Spans()

	// What each destination is owed: the spans of the requests naming it
	// (the generator counts a request's spans once per destination named).
	owed := func(name string) int64 { return st.ByDestination[name] }
	if pipeline == Baseline {
		// The stock pipeline cannot route: every exporter gets every span.
		owed = func(string) int64 { return st.SpansAccepted }
	}
	var m collector.Metrics
	lost := func(name string) float64 {
		if pipeline == Tracebound {
			return m.Sum(mDestLost, map[string]string{"destination": name})
		}
		exp := map[string]string{"exporter": e.comps.OTLPHTTPExporter() + "/" + name}
		return m.Sum(mExporterSendFailed, exp) + m.Sum(mExporterEnqFailed, exp)
	}
	balanced := func() bool {
		var err error
		if m, err = l.process().Scrape(); err != nil {
			return false
		}
		for _, b := range bs {
			if float64(b.Spans())+lost(b.Name()) != float64(owed(b.Name())) {
				return false
			}
		}
		return true
	}
	l.settle(balanced, 15*time.Second, 60*time.Second)
	run, fm := l.finish(float64(rate), st)
	m = fm
	// The summary's rates and loss are those of the healthy destination:
	// what it was owed and what it received.
	if o := owed("healthy"); o > 0 && st.OfferTime > 0 {
		run.OfferedRate = float64(o) / st.OfferTime.Seconds()
		run.DeliveredRate = float64(healthy.Spans()) / st.OfferTime.Seconds()
		run.Loss = RunLoss(healthy.Spans(), o, 0, false)
		fanOut := "each routed request copied to healthy and to failing, slow or both"
		if pipeline == Baseline {
			fanOut = "without trace config: the stock pipeline sends every span to every destination"
		}
		run.Notes = append(run.Notes, fmt.Sprintf("offered, delivered and loss are the healthy destination's: the spans/s routed to it and received by it (the generator's load was %d spans/s, %s); CPU per span divides by the spans the collector accepted", rate, fanOut))
		e.res.Runs[len(e.res.Runs)-1] = run
	}

	r := e.res
	ok, det := eq(mReceiverAccepted, m.Sum(mReceiverAccepted, nil), float64(st.SpansAccepted))
	r.check(Correctness, run.Label+": receiver metrics match the generator", ok, det)
	r.check(Correctness, run.Label+": every request accepted", st.SpansFailed == 0 && st.SpansRejected == 0,
		fmt.Sprintf("sent %d, accepted %d, failed %d, rejected %d%s", st.SpansSent, st.SpansAccepted, st.SpansFailed, st.SpansRejected, lastError(st)))
	ok, det = eq("healthy backend spans", float64(healthy.Spans()), float64(owed("healthy")))
	r.check(Correctness, run.Label+": the healthy destination receives all routed to it", ok, det)
	for _, b := range bs {
		n := b.Name()
		got, lo := float64(b.Spans()), lost(n)
		r.check(Correctness, fmt.Sprintf("%s: sent = delivered + counted losses at %s", run.Label, n),
			got+lo == float64(owed(n)), fmt.Sprintf("sent %d, delivered %.0f, counted lost %.0f", owed(n), got, lo))
	}
	lag := owed("healthy") - healthyAtEnd
	// One second of the healthy destination's share: what was routed to it
	// per second of load (every routed request names it, every
	// MissingEvery-th request is routed nowhere), the run's offered rate.
	share := int64(math.Ceil(run.OfferedRate))
	// Asserted for tracebound only, as in steady and restart: the
	// baseline's figures are a reference, not a claim.
	lagKind := Timing
	if pipeline == Baseline {
		lagKind = Info
	}
	r.check(lagKind, run.Label+": the healthy destination keeps up (under 1 s behind when the load ends)",
		lag <= share, fmt.Sprintf("%d spans behind at the end of the load (1 s of its share is %d)", lag, share))
	if pipeline == Baseline {
		r.check(Info, run.Label+": the stock pipeline cannot route", true,
			fmt.Sprintf("every destination was sent all %d spans, whoever they belonged to", st.SpansAccepted))
		return nil
	}
	var delivered, losses float64
	var copies int64 // spans owed over all destinations, one per copy
	for _, b := range bs {
		delivered += float64(b.Spans())
		losses += lost(b.Name())
		copies += owed(b.Name())
	}
	dropped := m.Sum(mRoutingDropped, nil) + m.Sum(mDestDropped, nil)
	unrouted := st.ByDestination[""]
	r.check(Correctness, run.Label+": sent = delivered + counted drops, over all destinations",
		delivered+losses+dropped == float64(copies+unrouted),
		fmt.Sprintf("sent %d copies of %d routed spans + %d unrouted = delivered %.0f + lost at destinations %.0f + dropped %.0f",
			copies, st.SpansAccepted-unrouted, unrouted, delivered, losses, dropped))
	// Without fan-out the scenario would not show that a copy held by a
	// failing or slow destination leaves the healthy copy alone.
	r.check(Correctness, run.Label+": every routed span fans out to healthy and to failing or slow",
		owed("healthy") == st.SpansAccepted-unrouted && owed("failing")+owed("slow") >= owed("healthy"),
		fmt.Sprintf("%d routed spans: %d owed to healthy, %d to failing, %d to slow", st.SpansAccepted-unrouted, owed("healthy"), owed("failing"), owed("slow")))
	missing := m.Sum(mRoutingDropped, map[string]string{"reason": "missing"})
	ok, det = eq(mRoutingDropped+`{reason="missing"}`, missing, float64(unrouted))
	r.check(Correctness, run.Label+": spans without a trace config are dropped and counted", ok, det)
	for _, n := range routingDests {
		ok, det = eq(fmt.Sprintf("%s{destination=%q}", mRoutingRouted, n), m.Sum(mRoutingRouted, map[string]string{"destination": n}), float64(owed(n)))
		r.check(Correctness, fmt.Sprintf("%s: trace_routing counted the spans routed to %s", run.Label, n), ok, det)
	}
	routeAttr := healthy.AttributeCounts(attrDestination)
	r.check(Correctness, run.Label+": the route attribute is removed before sending",
		len(routeAttr) <= 1 && routeAttr[""] == healthy.Spans(), fmt.Sprintf("%s values at the backend: %v", attrDestination, routeAttr))
	acct := healthy.AttributeCounts(attrAccount)
	r.check(Correctness, run.Label+": the account stamp reaches the backend",
		acct["acct-1"] == healthy.Spans(), fmt.Sprintf("%s values at the backend: %v", attrAccount, acct))
	return nil
}
