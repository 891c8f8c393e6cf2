package scenario

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tracebound/tracebound/internal/route"
	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var routing = Scenario{
	Name:  "routing",
	Title: "Three destinations, one failing (503) and one slow; trace configs in the producers' own shapes, routed by a routes table (or naming their own destinations) to healthy and to the failing or slow one or both: the healthy one gets all it is owed",
	Needs: []need{{"processors", "trace_routing"}, {"exporters", "destinations"}},
	run:   runRouting,
}

const attrAccount = "trace_config.account"

// routingDests are the destinations the exporter has, one backend each.
var routingDests = []string{"healthy", "failing", "slow"}

// unconfigured is a name a route gives that the exporter has no
// destination for: its copies are never made, only counted.
const unconfigured = "archive"

// routingRoutes is trace_routing's routes table. Every route names healthy
// beside the failing one, the slow one or both, so the collector sends
// copies, and a copy held by a failing or slow destination must not hold
// back the healthy one's.
var routingRoutes = []routeSpec{
	{Match: []condition{{Field: "account", Values: []string{"42"}}}, Destinations: []string{"healthy", "failing"}},
	{Match: []condition{{Field: "account", Values: []string{"7", "8"}}, {Field: "zone", Values: []string{"*"}}}, Destinations: []string{"healthy", "slow"}},
	{Match: []condition{{Field: "workspace", Values: []string{"*"}}}, Destinations: []string{"healthy", "failing", "slow", unconfigured}},
}

// routingConfigs are the trace configs the requests carry, in turn (every
// MissingEvery-th request carries none), in the shapes producers send.
// Foundations, the producer served first, says whose spans they are and
// never names destinations: the routes table decides.
var routingConfigs = []loadgen.TraceConfig{
	// Foundations' tests: {"zoneId":12345,"accountId":42}.
	{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers},
	// Key=value pairs: zone=1;account=7.
	{Account: "7", Zone: "1", Encoding: loadgen.EncodingKV},
	// Snake_case strings in URL-alphabet base64.
	{Account: "8", Zone: "2", Encoding: loadgen.EncodingJSONSnake, Base64: loadgen.Base64URL},
	// A producer naming its own destinations (no route consulted), in
	// standard base64.
	{Account: "acct-1", Zone: "zone-1", Workspace: "ws-1", Destinations: []string{"healthy", "failing", "slow"}, Base64: loadgen.Base64Std},
	// An account beyond float64's exact integers (it must arrive with every
	// digit), routed by its workspace, to archive too.
	{Account: "9007199254740993", Workspace: "77", Encoding: loadgen.EncodingJSONNumbers},
	// Read, but no route matches: on_unrouted drops it.
	{Account: "999", Zone: "9", Encoding: loadgen.EncodingKV},
}

// routingLoad is the routing scenario's trace configs, each with the
// destinations routingRoutes gives it, so the generator counts what each
// destination is owed.
func routingLoad() *loadgen.Routing {
	configs := make([]loadgen.TraceConfig, len(routingConfigs))
	for i, tc := range routingConfigs {
		if len(tc.Destinations) == 0 {
			tc.RoutedTo = routeOf(routingRoutes, tc)
		}
		configs[i] = tc
	}
	return &loadgen.Routing{Configs: configs, MissingEvery: 10}
}

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
		opts = append(opts, mockbackend.Options{Name: n, CountAttributes: []string{attrAccount, route.Attribute}})
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
		spec.Routes = routingRoutes
		load.Routing = routingLoad()
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

	// What each destination is owed: the spans of the requests whose trace
	// config names it or is routed to it (the generator counts a request's
	// spans once per destination).
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
		fanOut := "each routed request copied to healthy and to failing, slow or both, by a routes table or the producer's own list"
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
	// MissingEvery-th request and the unrouted config go nowhere), the
	// run's offered rate.
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
	e.routingChecks(run, st, m, bs, lost)
	return nil
}

// routingChecks are tracebound's checks of the routing run beyond the
// healthy destination's: the drops by reason, the fan-out, what
// trace_routing counted, and what reached each backend.
func (e *Env) routingChecks(run Run, st loadgen.Stats, m collector.Metrics, bs []*mockbackend.Backend, lost func(string) float64) {
	r := e.res
	owed := func(name string) int64 { return st.ByDestination[name] }
	configs := routingLoad().Configs // as the generator had them: ByConfig is indexed alike
	var withConfig, unroutedConfigs int64
	for i, n := range st.ByConfig {
		withConfig += n
		if len(configs[i].Routes()) == 0 {
			unroutedConfigs += n
		}
	}
	missing := st.SpansAccepted - withConfig
	nowhere := st.ByDestination[""]

	// The route names archive, which the exporter does not have: no copy is
	// made, its spans are counted.
	unknown := m.Sum(mDestDropped, map[string]string{"reason": "unknown_destination"})
	r.check(Correctness, fmt.Sprintf("%s: sent = counted drops at %s (a name the exporter does not have)", run.Label, unconfigured),
		unknown == float64(owed(unconfigured)),
		fmt.Sprintf("sent %d, %s{reason=\"unknown_destination\"} %.0f", owed(unconfigured), mDestDropped, unknown))
	var delivered, losses float64
	var copies int64 // spans owed over all destinations, one per copy
	for _, b := range bs {
		delivered += float64(b.Spans())
		losses += lost(b.Name())
		copies += owed(b.Name())
	}
	copies += owed(unconfigured)
	dropped := m.Sum(mRoutingDropped, nil) + m.Sum(mDestDropped, nil)
	r.check(Correctness, run.Label+": sent = delivered + counted drops, over all destinations",
		delivered+losses+dropped == float64(copies+nowhere),
		fmt.Sprintf("sent %d copies of %d routed spans + %d routed nowhere = delivered %.0f + lost at destinations %.0f + dropped %.0f",
			copies, st.SpansAccepted-nowhere, nowhere, delivered, losses, dropped))
	// Without fan-out the scenario would not show that a copy held by a
	// failing or slow destination leaves the healthy copy alone.
	r.check(Correctness, run.Label+": every routed span fans out to healthy and to failing or slow",
		owed("healthy") == st.SpansAccepted-nowhere && owed("failing")+owed("slow") >= owed("healthy") && owed("healthy") > 0,
		fmt.Sprintf("%d routed spans: %d owed to healthy, %d to failing, %d to slow, %d to %s",
			st.SpansAccepted-nowhere, owed("healthy"), owed("failing"), owed("slow"), owed(unconfigured), unconfigured))
	byRoutes := int64(0)
	for i, n := range st.ByConfig {
		if len(configs[i].Destinations) == 0 && len(configs[i].RoutedTo) > 0 {
			byRoutes += n
		}
	}
	r.check(Correctness, run.Label+": the routes table routes part of the traffic", byRoutes > 0,
		fmt.Sprintf("%d of %d routed spans carried no destinations of their own", byRoutes, st.SpansAccepted-nowhere))
	for _, c := range []struct {
		reason, what string
		want         int64
	}{
		{"missing", "spans without a trace config are dropped and counted", missing},
		{"unrouted", "spans whose trace config matches no route are dropped and counted", unroutedConfigs},
		{"invalid", "every trace config shape is read (none invalid)", 0},
	} {
		ok, det := eq(mRoutingDropped+`{reason="`+c.reason+`"}`, m.Sum(mRoutingDropped, map[string]string{"reason": c.reason}), float64(c.want))
		r.check(Correctness, run.Label+": "+c.what, ok, det)
	}
	ok, det := eq(mDestDropped+`{reason="unrouted"}`, m.Sum(mDestDropped, map[string]string{"reason": "unrouted"}), 0)
	r.check(Correctness, run.Label+": every resource reaches destinations with its route", ok, det)
	for _, n := range append(slices.Clone(routingDests), unconfigured) {
		ok, det = eq(fmt.Sprintf("%s{destination=%q}", mRoutingRouted, n), m.Sum(mRoutingRouted, map[string]string{"destination": n}), float64(owed(n)))
		r.check(Correctness, fmt.Sprintf("%s: trace_routing counted the spans routed to %s", run.Label, n), ok, det)
	}
	for _, b := range bs {
		// Each backend is its own destination: no attribute need say which
		// copy it got, and the route, internal to the pipeline, must not
		// reach it.
		routeAttr := b.AttributeCounts(route.Attribute)
		r.check(Correctness, fmt.Sprintf("%s: the route attribute is removed before sending to %s", run.Label, b.Name()),
			len(routeAttr) <= 1 && routeAttr[""] == b.Spans(), fmt.Sprintf("%s values at the backend: %v", route.Attribute, routeAttr))
		// Whose spans they are arrives as sent (42 as "42", every digit of
		// 9007199254740993), and only the accounts routed here arrive:
		// all of them where nothing was lost, none beyond what was owed
		// elsewhere.
		want := map[string]int64{}
		for i, n := range st.ByConfig {
			if n > 0 && slices.Contains(configs[i].Routes(), b.Name()) {
				want[configs[i].Account] += n
			}
		}
		got := b.AttributeCounts(attrAccount)
		exact := lost(b.Name()) == 0
		ok := !exact || len(got) == len(want)
		for acct, n := range got {
			if n > want[acct] || (exact && n != want[acct]) {
				ok = false
			}
		}
		r.check(Correctness, fmt.Sprintf("%s: the account stamps reach %s as routed", run.Label, b.Name()), ok,
			fmt.Sprintf("spans per %s at the backend %v, routed %v, counted lost %.0f", attrAccount, got, want, lost(b.Name())))
	}
}
