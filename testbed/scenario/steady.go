package scenario

import (
	"fmt"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var steady = Scenario{
	Name:  "steady",
	Title: "Steady load over the socket, full pipeline beside the stock baseline",
	run:   runSteady,
}

// standardLoad is the load of the steady and max-rate scenarios: ordinary
// traces of 10 spans, 8 attributes of 16 bytes per span, identity attributes
// of 4 processes.
func standardLoad(rate int, d time.Duration) loadgen.Config {
	return loadgen.Config{
		Rate:            rate,
		Duration:        d,
		SpansPerRequest: 500,
		Workers:         8,
		Span:            loadgen.SpanShape{Attributes: 8, AttributeSize: 16},
		Trace:           loadgen.TraceShape{SpansPerTrace: 10},
		Identity:        &loadgen.Identity{Component: "checkout", Solution: "shop", Revision: 42, Processes: 4},
		DrainTimeout:    30 * time.Second,
	}
}

// routeAll routes every request to one destination when the pipeline
// routes (the stock pipeline never does), the way foundations is served: the
// header says whose spans they are in its tests' shape,
// {"zoneId":12345,"accountId":42}, and names no destination; a route of the
// collector's sends that account to name.
func routeAll(spec *pipelineSpec, load *loadgen.Config, name string) {
	if spec.Routing {
		spec.Routes = []routeSpec{{Match: []condition{{Field: "account", Values: []string{"42"}}}, Destinations: []string{name}}}
		load.Routing = &loadgen.Routing{Configs: []loadgen.TraceConfig{
			{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers, RoutedTo: []string{name}},
		}}
	}
}

func runSteady(e *Env) error {
	rates := pick(e, []int{10_000, 50_000, 100_000}, []int{1_000, 3_000})
	if e.Rate > 0 {
		rates = []int{e.Rate}
	}
	d := e.duration(pick(e, 20*time.Second, 3*time.Second))
	for i, rate := range rates {
		tb, bl, err := bothSides(i, func(p string) (Run, error) { return e.steadyRun(p, rate, d) })
		if err != nil {
			return err
		}
		if bl.CPUMicrosPerSpan > 0 {
			e.res.ratio(fmt.Sprintf("cpu_per_span_%d", rate), tb.CPUMicrosPerSpan/bl.CPUMicrosPerSpan)
		}
		if bl.PeakRSSMiB > 0 {
			e.res.ratio(fmt.Sprintf("peak_rss_%d", rate), tb.PeakRSSMiB/bl.PeakRSSMiB)
		}
		e.res.check(Info, fmt.Sprintf("%d spans/s: tracebound vs baseline", rate), true,
			fmt.Sprintf("CPU per span x%.2f (%.2f vs %.2f us), peak RSS x%.2f (%.0f vs %.0f MiB), delivered %.0f vs %.0f spans/s",
				safeDiv(tb.CPUMicrosPerSpan, bl.CPUMicrosPerSpan), tb.CPUMicrosPerSpan, bl.CPUMicrosPerSpan,
				safeDiv(tb.PeakRSSMiB, bl.PeakRSSMiB), tb.PeakRSSMiB, bl.PeakRSSMiB, tb.DeliveredRate, bl.DeliveredRate))
		e.res.checkPeakRSSAtMostStock(fmt.Sprintf("%d spans/s: ", rate), tb.PeakRSSMiB, bl.PeakRSSMiB)
		e.res.check(Timing, fmt.Sprintf("%d spans/s: tracebound delivers the offered rate (>= 99%%)", rate),
			tb.DeliveredRate >= 0.99*float64(rate), fmt.Sprintf("delivered %.0f spans/s", tb.DeliveredRate))
	}
	return nil
}

func (e *Env) steadyRun(pipeline string, rate int, d time.Duration) (Run, error) {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return Run{}, err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	load := standardLoad(rate, d)
	spec := e.pipeline(pipeline, main)
	routeAll(&spec, &load, "main")
	l, err := e.launch(fmt.Sprintf("%s %dk/s", pipeline, rate/1000), pipeline, spec, bs...)
	if err != nil {
		return Run{}, err
	}
	st, _, err := l.load(e.ctx, load, 0)
	if err != nil {
		l.finish(float64(rate), st)
		return Run{}, err
	}
	l.settle(func() bool { return l.delivered() >= st.SpansAccepted }, 5*time.Second, 30*time.Second)
	run, m := l.finish(float64(rate), st)
	e.pipelineAccounting(run, st, m, 1)
	return run, nil
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
