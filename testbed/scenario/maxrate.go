package scenario

import (
	"fmt"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var maxRate = Scenario{
	Name:  "max-rate",
	Title: "Offered rate raised until delivery falls under 99%, tracebound and baseline",
	run:   runMaxRate,
}

// step is one rung of the ramp.
type step struct {
	Rate      int     `json:"rate"`
	Sent      int64   `json:"sent"`
	Delivered int64   `json:"delivered"`
	Failed    int64   `json:"failed"`
	Ratio     float64 `json:"delivered_ratio"`
	// DeliveredRate is delivered spans per second of the step.
	DeliveredRate float64 `json:"delivered_rate"`
}

func runMaxRate(e *Env) error {
	first := e.rate(pick(e, 25_000, 2_000))
	stepTime := e.duration(pick(e, 6*time.Second, 2*time.Second))
	maxSteps := pick(e, 8, 2)
	best := map[string]int{}
	for _, p := range []string{Tracebound, Baseline} {
		ramp, err := e.ramp(p, first, stepTime, maxSteps)
		if err != nil {
			return err
		}
		best[p] = ramp
	}
	if best[Baseline] > 0 {
		e.res.ratio("max_rate", float64(best[Tracebound])/float64(best[Baseline]))
	}
	e.res.check(Info, "highest rate delivered at >= 99%", true,
		fmt.Sprintf("tracebound %d spans/s, baseline %d spans/s", best[Tracebound], best[Baseline]))
	return nil
}

// ramp runs one collector under rising rates, each step 1.5 times the last,
// and returns the highest rate delivered at 99% or more.
func (e *Env) ramp(pipeline string, first int, stepTime time.Duration, maxSteps int) (int, error) {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return 0, err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	spec := e.basePipeline(main)
	probe := standardLoad(first, stepTime)
	if pipeline == Tracebound {
		spec = e.tbPipeline(main)
		routeAll(spec, &probe, "main")
	}
	l, err := e.launch(pipeline+" ramp", pipeline, spec, bs...)
	if err != nil {
		return 0, err
	}
	var total loadgen.Stats
	var steps []step
	good, bestRate := 0, 0.0
	rate := first
	for range maxSteps {
		load := standardLoad(rate, stepTime)
		load.Workers = 16
		load.DrainTimeout = 5 * time.Second
		load.Routing = probe.Routing
		before := l.delivered()
		st, _, err := l.load(e.ctx, load, total.SpansSent)
		if err != nil {
			return 0, err
		}
		addStats(&total, st)
		target := before + st.SpansAccepted
		l.settle(func() bool { return l.delivered() >= target }, 2*time.Second, 5*time.Second)
		s := step{Rate: rate, Sent: st.SpansSent, Failed: st.SpansFailed, Delivered: l.delivered() - before}
		s.Ratio = float64(s.Delivered) / (float64(rate) * stepTime.Seconds())
		s.DeliveredRate = float64(s.Delivered) / stepTime.Seconds()
		steps = append(steps, s)
		bestRate = max(bestRate, s.DeliveredRate)
		e.logf("   %s: %d spans/s offered, %.1f%% delivered", pipeline, rate, 100*s.Ratio)
		if s.Ratio < 0.99 {
			break
		}
		good = rate
		rate = (rate*3/2 + 999) / 1000 * 1000
	}
	l.settle(func() bool { return l.delivered() >= total.SpansAccepted }, 3*time.Second, 30*time.Second)
	run, m := l.finish(float64(good), total)
	run.DeliveredRate = bestRate
	run.Notes = append(run.Notes, fmt.Sprintf("offered = highest rate delivered at >= 99%%; delivered = best step's rate; %d steps of %s", len(steps), stepTime))
	e.res.Runs[len(e.res.Runs)-1] = run
	e.res.extra(pipeline+"_steps", steps)
	e.res.extra(pipeline+"_max_rate", good)

	// Overload may make the generator give up on refused requests, but
	// whatever the collector accepted must arrive.
	e.deliveryAccounting(run, total.SpansAccepted, m, 1)
	return good, nil
}

// addStats adds the counts of b to a.
func addStats(a *loadgen.Stats, b loadgen.Stats) {
	a.Requests += b.Requests
	a.RequestsAccepted += b.RequestsAccepted
	a.RequestsFailed += b.RequestsFailed
	a.Attempts += b.Attempts
	a.Retries += b.Retries
	a.Throttled += b.Throttled
	a.RetryAfterSeen += b.RetryAfterSeen
	a.ConnErrors += b.ConnErrors
	a.SpansSent += b.SpansSent
	a.SpansAccepted += b.SpansAccepted
	a.SpansFailed += b.SpansFailed
	a.SpansRejected += b.SpansRejected
	a.Elapsed += b.Elapsed
	a.OfferTime += b.OfferTime
	if b.LastError != "" {
		a.LastError = b.LastError
	}
}
