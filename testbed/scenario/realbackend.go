package scenario

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/tracebound/tracebound/testbed/jaeger"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

var realBackend = Scenario{
	Name:        "real-backend",
	Title:       "A lifecycle trace and two tenants' short traces into Jaeger v2 (in-memory storage): what a real backend shows of tracebound's segments, read back through its query API, beside the stock pipeline's one unbounded trace",
	Needs:       []need{{"processors", "lifecycle_identity"}, {"processors", "trace_routing"}, {"exporters", "destinations"}},
	NeedsJaeger: true,
	run:         runRealBackend,
}

const (
	realMaxSpans = 2000
	// realService is the service.name the load generator stamps.
	realService = "testbed-loadgen"
	realDest    = "jaeger"
)

// realTenants are the two tenants of the short traces (the lifecycle
// trace's requests carry them in turn too), in the shapes producers send:
// foundations' tests' JSON with numbers, and key=value pairs.
var realTenants = []loadgen.TraceConfig{
	{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers, RoutedTo: []string{realDest}},
	{Account: "7", Zone: "1", Encoding: loadgen.EncodingKV, RoutedTo: []string{realDest}},
}

// jaegerMissing says why the Jaeger binary cannot run, "" when it can.
func jaegerMissing(path string) string {
	if path == "" {
		return "no Jaeger binary given (-jaeger; `make testbed-real-backend` builds .tools/bin/jaeger and runs this scenario)"
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("Jaeger binary: %v (`make jaeger` builds it)", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Sprintf("Jaeger binary %s is not an executable file", path)
	}
	return ""
}

// jaegerSink is a running Jaeger as a sink: what its storage exporter
// wrote to the store.
type jaegerSink struct {
	j    *jaeger.Jaeger
	last atomic.Pointer[jaeger.Stored]
}

func (s *jaegerSink) stored() jaeger.Stored {
	if st, err := s.j.Stored(); err == nil {
		s.last.Store(&st)
		return st
	}
	if p := s.last.Load(); p != nil {
		return *p
	}
	return jaeger.Stored{}
}

func (s *jaegerSink) Spans() int64 { return s.stored().Spans }

func (s *jaegerSink) Problem() string {
	st := s.stored()
	if st.Failed > 0 || st.Refused > 0 {
		return fmt.Sprintf("jaeger: %d spans refused by its receiver, %d failed to reach its store (log %s)", st.Refused, st.Failed, s.j.LogPath())
	}
	return ""
}

// realRun is what one pipeline's run left in Jaeger.
type realRun struct {
	label string
	rep   jaeger.Report
}

func runRealBackend(e *Env) error {
	lcSpans := pick(e, 30_000, 6_000)
	short := pick(e, 20, 6)
	total := lcSpans + short*loadgen.DefaultSpansPerTrace
	rate := e.rate(pick(e, 10_000, 5_000))
	d := e.duration(time.Duration(float64(total)/float64(rate)*float64(time.Second))*2 + 10*time.Second)
	e.res.extra("lifecycle_spans", lcSpans)
	e.res.extra("short_traces", short)
	e.res.extra("max_spans", realMaxSpans)
	tm := &TraceMap{Backend: "Jaeger v2 (all-in-one, in-memory storage)", MaxSpans: realMaxSpans}
	e.res.TraceMap = tm
	runs := map[string]realRun{}
	for _, p := range []string{Tracebound, Baseline} {
		r, err := e.realBackendRun(p, rate, d, lcSpans, short, total)
		if err != nil {
			return err
		}
		runs[p] = r
		tm.Runs = append(tm.Runs, TraceMapRun{Label: r.label, Pipeline: p, Traces: r.rep.Summaries})
	}
	e.res.Tables = append(e.res.Tables, realTable(runs[Tracebound], runs[Baseline], lcSpans))
	return nil
}

// realLoad is the seed shape: one lifecycle trace (its root the parent of
// every message handler, sent last) among short traces, the requests
// carrying the two tenants' trace configs in turn. One worker keeps the
// send order, which the bound check reads to tell late parents.
func realLoad(rate int, d time.Duration, lcSpans, short int) loadgen.Config {
	return loadgen.Config{
		Rate:            rate,
		Duration:        d,
		SpansPerRequest: 500,
		Workers:         1,
		Trace: loadgen.TraceShape{SpansPerTrace: loadgen.DefaultSpansPerTrace, Traces: short,
			Lifecycle: loadgen.LifecycleShape{Traces: 1, SpansPerTrace: lcSpans, HandlerSpans: 3}},
		Identity:      &loadgen.Identity{Component: "worker", Solution: "queue", Revision: 7, Processes: 1},
		Routing:       &loadgen.Routing{Configs: realTenants},
		RecordParents: true,
	}
}

func (e *Env) realBackendRun(pipeline string, rate int, d time.Duration, lcSpans, short, total int) (realRun, error) {
	e.seq++
	j, err := jaeger.Start(e.Jaeger, e.dir, fmt.Sprintf("%s-%d-jaeger-%s", e.res.Scenario, e.seq, pipeline))
	if err != nil {
		return realRun{}, err
	}
	defer func() { _ = j.Stop(20 * time.Second) }()
	js := &jaegerSink{j: j}
	spec := e.pipeline(pipeline, dest{Name: realDest, URL: j.OTLPEndpoint})
	if pipeline == Tracebound {
		spec.Lifecycle, spec.MaxSpans = true, realMaxSpans
		spec.Routes = []routeSpec{{Match: []condition{{Field: "account", Values: []string{realTenants[0].Account, realTenants[1].Account}}}, Destinations: []string{realDest}}}
	}
	load := realLoad(rate, d, lcSpans, short)
	l, err := e.launchTo(pipeline+" into Jaeger", pipeline, spec, js)
	if err != nil {
		return realRun{}, err
	}
	run, st, g, _, err := l.runPlan(load, rate, total)
	if err != nil {
		return realRun{}, err
	}
	stored := js.stored()
	e.res.check(Correctness, run.Label+": Jaeger stored every span it was sent",
		stored.Failed == 0 && stored.Refused == 0 && stored.Spans == run.DeliveredSpans,
		fmt.Sprintf("Jaeger's own metrics: %d spans written to its store, %d failed, %d refused by its receiver", stored.Spans, stored.Failed, stored.Refused))

	fetched, err := readBack(e.ctx, j, e.start)
	if err != nil {
		return realRun{}, err
	}
	rep := jaeger.Inspect(fetched, sentBy(g), realMaxSpans)
	e.res.extra(pipeline+"_jaeger", rep)
	e.realChecks(run.Label, pipeline, rep, st, total, lcSpans)
	return realRun{label: run.Label, rep: rep}, nil
}

// readBack finds every trace of the load generator's service in Jaeger and
// reads each through both APIs.
func readBack(ctx context.Context, j *jaeger.Jaeger, since time.Time) ([]jaeger.Fetched, error) {
	ids, err := j.SearchIDs(ctx, realService, since.Add(-time.Hour), time.Now().Add(time.Hour), jaeger.MaxTraces)
	if err != nil {
		return nil, err
	}
	out := make([]jaeger.Fetched, 0, len(ids))
	for _, id := range ids {
		f := jaeger.Fetched{ID: id}
		if f.V1, f.V1At, err = j.TraceV1(ctx, id); err != nil {
			return nil, err
		}
		if f.V3, f.V3At, err = j.TraceV3(ctx, id); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
