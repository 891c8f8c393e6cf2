package scenario

import (
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
	"github.com/tracebound/tracebound/testbed/monitor"

	"github.com/tracebound/tracebound/internal/oracle"
)

var scaleOut = Scenario{
	Name:  "scale-out",
	Title: "Two tracebound replicas behind the contrib load-balancing agent (routing_key traceID, static resolver): each tenant reaches its destinations, every span once, no trace on both replicas, segments bounded and the same as one replica's; then one replica restarted under load",
	Needs: []need{{"processors", "lifecycle_identity"}, {"processors", "trace_routing"}, {"exporters", "destinations"}},
	Agent: true,
	run:   runScaleOut,
}

// scaleOutDests are the replicas' destinations, one backend each per
// replica, so each span tells which replica sent it.
var scaleOutDests = []string{"tempo", "vendor", "archive"}

// scaleOutRoutes is the replicas' routes table: every tenant routed, one
// of them to two destinations.
var scaleOutRoutes = []routeSpec{
	{Match: []condition{{Field: "account", Values: []string{"42"}}}, Destinations: []string{"tempo"}},
	{Match: []condition{{Field: "account", Values: []string{"7"}}, {Field: "zone", Values: []string{"*"}}}, Destinations: []string{"tempo", "vendor"}},
	{Match: []condition{{Field: "account", Values: []string{"8"}}}, Destinations: []string{"vendor"}},
	{Match: []condition{{Field: "workspace", Values: []string{"*"}}}, Destinations: []string{"archive"}},
}

// scaleOutTenants are the producers, one generator each, whose trace
// configs come in the producers' shapes (see routingConfigs), each with
// its own ID seed so the tenants' traces are distinct and every run of
// the scenario sends the same traces.
var scaleOutTenants = []struct {
	Config loadgen.TraceConfig
	Seed   uint64
}{
	{loadgen.TraceConfig{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers}, 0x5ca1e0a1},
	{loadgen.TraceConfig{Account: "7", Zone: "1", Encoding: loadgen.EncodingKV}, 0x5ca1e0b1},
	{loadgen.TraceConfig{Account: "8", Zone: "2", Encoding: loadgen.EncodingJSONSnake, Base64: loadgen.Base64URL}, 0x5ca1e0c1},
	{loadgen.TraceConfig{Account: "9007199254740993", Workspace: "77", Encoding: loadgen.EncodingJSONNumbers}, 0x5ca1e0d1},
}

// restartMode is how a replica is restarted in a run; "" for none.
type restartMode string

const (
	noRestart restartMode = ""
	// rollout is SIGTERM, the process draining what it holds, then a new
	// process: a Kubernetes rollout.
	rollout restartMode = "SIGTERM"
	// crash is SIGKILL, then a new process.
	crash restartMode = "SIGKILL"
)

// scaleOutShape is the load of one run, the same in every run.
type scaleOutShape struct {
	rate      int // spans/s over all tenants
	traces    int // ordinary traces of 10 spans per tenant
	lcTraces  int // lifecycle traces per tenant
	lcSpans   int // spans per lifecycle trace
	maxSpans  int
	perTenant int // spans per tenant
	d         time.Duration
}

func runScaleOut(e *Env) error {
	sh := scaleOutShape{
		rate:     e.rate(pick(e, 20_000, 8_000)),
		traces:   pick(e, 4_000, 300),
		lcTraces: 2,
		lcSpans:  pick(e, 10_000, 2_500),
		maxSpans: pick(e, 2_000, 1_000),
	}
	sh.perTenant = sh.traces*10 + sh.lcTraces*sh.lcSpans
	sh.d = time.Duration(float64(sh.perTenant*len(scaleOutTenants)) / float64(sh.rate) * float64(time.Second))
	for _, k := range []struct {
		key string
		v   any
	}{{"rate", sh.rate}, {"tenants", len(scaleOutTenants)}, {"ordinary_traces_per_tenant", sh.traces},
		{"lifecycle_traces_per_tenant", sh.lcTraces}, {"lifecycle_spans", sh.lcSpans}, {"max_spans", sh.maxSpans}} {
		e.res.extra(k.key, k.v)
	}
	two, err := e.scaleOutRun(sh, 2, noRestart)
	if err != nil {
		return err
	}
	one, err := e.scaleOutRun(sh, 1, noRestart)
	if err != nil {
		return err
	}
	two.compare(one)
	rows := [][]string{two.row(one), one.row(nil)}
	for _, mode := range []restartMode{rollout, crash} {
		r, err := e.scaleOutRun(sh, 2, mode)
		if err != nil {
			return err
		}
		r.restartFigures(one)
		rows = append(rows, r.row(one))
	}
	e.res.Tables = append(e.res.Tables, Table{
		Title:  "Scale out: each run's figures",
		Header: []string{"run", "spans owed", "delivered once", "lost", "duplicates", "traces per replica", "traces on both replicas", "segments", "largest segment", "segment IDs unlike 1 replica (traces)", "reopened segments", "agent CPU %", "replicas CPU %"},
		Rows:   rows,
		Notes: []string{"Spans owed count a span once per destination it is routed to (account 7 goes to two). " +
			"A segment is an output trace at one destination; reopened segments are those that received spans from the restarted replica both before and after its restart."},
	})
	return nil
}

// scaleOutOutcome is what one run left at the backends.
type scaleOutOutcome struct {
	e        *Env
	label    string
	replicas int
	mode     restartMode
	maxSpans int
	gens     []*loadgen.Generator
	stats    []loadgen.Stats
	// backends[r][d] is replica r's backend of scaleOutDests[d].
	backends [][]*mockbackend.Backend
	// replicaMetrics are each replica's internal metrics at the end (the
	// restarted one's are its new process's).
	replicaMetrics []collector.Metrics
	agentMetrics   collector.Metrics
	agentCPU       float64
	replicasCPU    float64
	// restarted is the replica restarted, -1 for none; before[d] how many
	// records its backend of destination d held when its old process was
	// gone; restartTook from the signal until the new one listened.
	restarted int
	before    []int
	// heldAtSignal is what the restarted replica had accepted but not yet
	// delivered anywhere a moment before the signal (-1: unknown).
	heldAtSignal int64
	restartTook  time.Duration
	restartErr   error
	reports      []oracle.TreeReport // per destination
	// Figures for the table: traces per replica, traces on both, traces
	// whose segment IDs differ from the one-replica run's (-1: not
	// compared), segments reopened by the restart (-1: none).
	perReplica []int
	onBoth     int
	differing  int
	reopened   int
}

// scaleOutRun runs the load through the agent and n replicas, restarting
// one replica at 40% of the load when mode says so.
func (e *Env) scaleOutRun(sh scaleOutShape, n int, mode restartMode) (*scaleOutOutcome, error) {
	label := fmt.Sprintf("%d replicas", n)
	if n == 1 {
		label = "1 replica"
	}
	if mode != noRestart {
		label += fmt.Sprintf(", one restarted (%s)", mode)
	}
	o := &scaleOutOutcome{e: e, label: label, replicas: n, mode: mode, maxSpans: sh.maxSpans, restarted: -1, differing: -1, reopened: -1}
	var all []*mockbackend.Backend
	defer func() { closeAll(all...) }()
	var replicas []*live
	var addrs []string
	for r := range n {
		var opts []mockbackend.Options
		var dests []dest
		for _, d := range scaleOutDests {
			opts = append(opts, mockbackend.Options{Name: fmt.Sprintf("%s-r%d", d, r), Record: true, CountAttributes: []string{attrAccount}})
		}
		bs, err := newBackends(opts...)
		if err != nil {
			return nil, err
		}
		all = append(all, bs...)
		o.backends = append(o.backends, bs)
		for i, d := range scaleOutDests {
			dests = append(dests, dest{Name: d, URL: bs[i].URL})
		}
		port, err := collector.FreePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		spec := pipelineSpec{OTLPGRPC: addr, Lifecycle: true, MaxSpans: sh.maxSpans, Routing: true, Dests: dests, Routes: scaleOutRoutes}
		rl, err := e.launch(fmt.Sprintf("%s: replica %d", label, r), Tracebound, spec, bs...)
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, rl)
		addrs = append(addrs, addr)
	}
	render := func(s pipelineSpec, port int) (string, []string) { return agentConfig(s, addrs, port) }
	agent, err := e.launchBinary(label, Tracebound, e.AgentBinary, pipelineSpec{Socket: e.socket()}, render, mockSinks(all)...)
	if err != nil {
		return nil, err
	}
	agent.forwards = true

	var restartDone chan struct{}
	if mode != noRestart {
		restartDone = make(chan struct{})
		t := time.AfterFunc(sh.d*2/5, func() {
			defer close(restartDone)
			o.restart(replicas)
		})
		defer t.Stop()
	}
	st, err := o.load(agent, sh)
	if restartDone != nil {
		<-restartDone
	}
	if err != nil {
		agent.finish(float64(sh.rate), st)
		return nil, err
	}
	owed := o.owed()
	agent.settle(func() bool { return o.uniqueDelivered() >= owed }, 5*time.Second, 60*time.Second)
	run, m := agent.finish(float64(sh.rate), st)
	o.agentMetrics, o.agentCPU = m, run.CPUPercent
	// The agent stopped first and drained into the replicas; each replica
	// drains its destinations when it stops.
	var peak float64
	var cpuSeconds float64
	var samples [][]monitor.Sample
	for _, rl := range replicas {
		rm, err := rl.process().Scrape()
		if err != nil {
			run.Notes = append(run.Notes, rl.label+": final scrape failed: "+err.Error())
		}
		o.replicaMetrics = append(o.replicaMetrics, rm)
		rl.shutdown()
		if rl.stopErr != nil {
			run.Notes = append(run.Notes, rl.label+": "+rl.stopErr.Error())
		}
		o.replicasCPU += rl.summary.CPUPercent
		cpuSeconds += rl.summary.CPUSeconds
		peak = max(peak, float64(rl.summary.PeakRSSBytes)/(1<<20))
		samples = append(samples, rl.summary.Samples)
	}
	// The run's row is tracebound's: the replicas' CPU and their highest
	// RSS; the agent's CPU is in the scale-out table.
	run.DeliveredSpans = o.uniqueDelivered()
	run.Loss = RunLoss(run.DeliveredSpans, owed, 0, false)
	if st.OfferTime > 0 {
		run.DeliveredRate = float64(run.DeliveredSpans) / st.OfferTime.Seconds()
	}
	run.CPUPercent, run.CPUSeconds, run.PeakRSSMiB = o.replicasCPU, cpuSeconds, peak
	run.CPUMicrosPerSpan = 0
	if st.SpansAccepted > 0 {
		run.CPUMicrosPerSpan = 1e6 * cpuSeconds / float64(st.SpansAccepted)
	}
	// The chart's CPU and RSS are the replicas' too (summed, highest).
	for i := range run.Timeline {
		run.Timeline[i].CPUPercent, run.Timeline[i].RSSMiB = 0, 0
		for _, ss := range samples {
			if len(ss) > 0 {
				s := ss[min(i, len(ss)-1)]
				run.Timeline[i].CPUPercent += s.CPUPercent
				run.Timeline[i].RSSMiB = max(run.Timeline[i].RSSMiB, float64(s.RSSBytes)/(1<<20))
			}
		}
	}
	run.Notes = append(run.Notes, fmt.Sprintf("the load-balancing agent: CPU %.0f%%, peak RSS %.0f MiB; delivered counts a span once per destination it is owed to", agent.summary.CPUPercent, float64(agent.summary.PeakRSSBytes)/(1<<20)))
	e.res.Runs[len(e.res.Runs)-1] = run
	o.analyze()
	o.checks(sh)
	return o, nil
}

// load runs one generator per tenant, at once, into the agent's socket
// and returns their stats summed.
func (o *scaleOutOutcome) load(agent *live, sh scaleOutShape) (loadgen.Stats, error) {
	for _, t := range scaleOutTenants {
		tc := t.Config
		tc.RoutedTo = routeOf(scaleOutRoutes, tc)
		g, err := loadgen.New(loadgen.Config{
			Endpoint: agent.spec.Socket,
			Rate:     sh.rate / len(scaleOutTenants),
			// Bounded by the plan; the duration is only a ceiling.
			Duration: 2*sh.d + 10*time.Second,
			// One worker per tenant: its spans reach the agent in the
			// order recorded, which the bound check needs (see lifecycle).
			Workers: 1,
			Trace: loadgen.TraceShape{SpansPerTrace: 10, Traces: sh.traces, IDSeed: t.Seed,
				Lifecycle: loadgen.LifecycleShape{Traces: sh.lcTraces, SpansPerTrace: sh.lcSpans, HandlerSpans: 3}},
			Identity:      &loadgen.Identity{Component: "worker", Solution: "queue", Revision: 7, Processes: 1},
			Routing:       &loadgen.Routing{Configs: []loadgen.TraceConfig{tc}},
			RecordParents: true,
		})
		if err != nil {
			return loadgen.Stats{}, err
		}
		o.gens = append(o.gens, g)
	}
	agent.follow(0, o.gens...)
	o.stats = make([]loadgen.Stats, len(o.gens))
	var wg sync.WaitGroup
	for i, g := range o.gens {
		wg.Go(func() { o.stats[i] = g.Run(o.e.ctx) })
	}
	wg.Wait()
	return sumStats(o.stats), nil
}

// sumStats adds the generators' counts (the rates are recomputed from the
// longest offer time).
func sumStats(all []loadgen.Stats) loadgen.Stats {
	var s loadgen.Stats
	for _, st := range all {
		s.Requests += st.Requests
		s.RequestsAccepted += st.RequestsAccepted
		s.RequestsFailed += st.RequestsFailed
		s.Attempts += st.Attempts
		s.Retries += st.Retries
		s.SpansSent += st.SpansSent
		s.SpansUnoffered += st.SpansUnoffered
		s.SpansAccepted += st.SpansAccepted
		s.SpansFailed += st.SpansFailed
		s.SpansRejected += st.SpansRejected
		s.Elapsed = max(s.Elapsed, st.Elapsed)
		s.OfferTime = max(s.OfferTime, st.OfferTime)
		if st.LastError != "" {
			s.LastError = st.LastError
		}
	}
	if s.OfferTime > 0 {
		s.OfferedRate = float64(s.SpansSent) / s.OfferTime.Seconds()
	}
	return s
}

// restart restarts the replica holding the most cut traces so far (a
// lifecycle trace whose segment 1 or later reached its backends), so the
// restart hits long traces in flight: with SIGTERM, the process drains and
// exits before the new one starts; with SIGKILL, it dies at once.
func (o *scaleOutOutcome) restart(replicas []*live) {
	best, most := 0, -1
	for r := range replicas {
		cut := map[pcommon.TraceID]bool{}
		for _, b := range o.backends[r] {
			for _, rec := range b.Records() {
				if rec.SegmentIndex >= 1 {
					cut[rec.TraceID] = true
				}
			}
		}
		if len(cut) > most {
			best, most = r, len(cut)
		}
	}
	o.restarted = best
	// A crash is timed (within 2 s) for a moment the replica holds spans
	// it accepted and has not delivered, so the figures show what a crash
	// loses, not a lucky moment between two batches.
	o.heldAtSignal = o.held(replicas[best], best)
	for deadline := time.Now().Add(2 * time.Second); o.mode == crash && o.heldAtSignal <= 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		o.heldAtSignal = o.held(replicas[best], best)
	}
	o.e.logf("   %s: restarting replica %d (%d cut segments at its backends) with %s", o.label, best, most, o.mode)
	snapshot := func() {
		for _, b := range o.backends[best] {
			o.before = append(o.before, len(b.Records()))
		}
	}
	o.restartTook, o.restartErr = replicas[best].restartAfter(func(p *collector.Process) {
		if o.mode == crash {
			p.Kill()
			// Requests the dead process had fully sent may still be in
			// the backend's handler.
			time.Sleep(100 * time.Millisecond)
		} else {
			_ = p.Stop(20 * time.Second)
		}
		snapshot()
	})
}

// held is what replica r accepted and has not yet delivered to any
// destination; -1 when its metrics cannot be read.
func (o *scaleOutOutcome) held(rl *live, r int) int64 {
	m, err := rl.process().Scrape()
	if err != nil {
		return -1
	}
	seen := map[[8]byte]struct{}{}
	for _, b := range o.backends[r] {
		for _, rec := range b.Records() {
			seen[rec.SpanID] = struct{}{}
		}
	}
	return int64(m.Sum(mReceiverAccepted, nil)) - int64(len(seen))
}

// owed is the spans the backends must hold: each tenant's accepted spans
// once per destination its route gives it.
func (o *scaleOutOutcome) owed() int64 {
	var n int64
	for i, st := range o.stats {
		n += st.SpansAccepted * int64(len(routeOf(scaleOutRoutes, scaleOutTenants[i].Config)))
	}
	return n
}

// uniqueDelivered is the distinct spans at the backends, per destination.
func (o *scaleOutOutcome) uniqueDelivered() int64 {
	var n int64
	for d := range scaleOutDests {
		seen := map[[8]byte]struct{}{}
		for r := range o.backends {
			for _, rec := range o.backends[r][d].Records() {
				seen[rec.SpanID] = struct{}{}
			}
		}
		n += int64(len(seen))
	}
	return n
}

// records returns every span destination d received, from every replica.
func (o *scaleOutOutcome) records(d int) []oracle.Span {
	var out []oracle.Span
	for r := range o.backends {
		out = append(out, o.backends[r][d].Records()...)
	}
	return out
}

// sent looks a span up in the generators that sent it.
func (o *scaleOutOutcome) sent(id [8]byte) (oracle.Sent, bool) {
	for _, g := range o.gens {
		if p, ord, ok := g.Sent(id); ok {
			return oracle.Sent{Parent: p, Order: ord}, true
		}
	}
	return oracle.Sent{}, false
}

func (o *scaleOutOutcome) analyze() {
	for d := range scaleOutDests {
		o.reports = append(o.reports, oracle.Analyze(o.records(d), o.sent, o.maxSpans))
	}
	o.e.res.extra(o.label+"_trees", o.reports)
}

// kind is how a run's checks count: the restart runs report what happens
// (DESIGN.md says what to expect), the others must hold.
func (o *scaleOutOutcome) kind() CheckKind {
	if o.mode != noRestart {
		return Info
	}
	return Correctness
}
