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
	// Up to 12 steps of x1.5 (25k to 2.2M spans/s in full mode): the ramp
	// stops at the first step under 99%, so the cap only bounds the run.
	maxSteps := pick(e, 12, 2)
	best, peak, found := map[string]int{}, map[string]float64{}, map[string]bool{}
	for _, p := range []string{Tracebound, Baseline} {
		good, top, limit, err := e.ramp(p, first, stepTime, maxSteps)
		if err != nil {
			return err
		}
		best[p], peak[p], found[p] = good, top, limit
	}
	// A ramp that never fell under 99% only says the limit is above its
	// last step: the ratio is then no ratio of limits.
	if best[Baseline] > 0 && found[Tracebound] && found[Baseline] {
		e.res.ratio("max_rate", float64(best[Tracebound])/float64(best[Baseline]))
	}
	rateText := func(p string) string {
		if found[p] {
			return fmt.Sprintf("%d spans/s", best[p])
		}
		return fmt.Sprintf("at least %d spans/s (the ramp's last step never fell under 99%%)", best[p])
	}
	e.res.check(Info, "highest rate delivered at >= 99%", true,
		fmt.Sprintf("tracebound %s, baseline %s (peak delivery %.0f and %.0f spans/s)", rateText(Tracebound), rateText(Baseline), peak[Tracebound], peak[Baseline]))
	return nil
}

// ramp runs one collector under rising rates, each step 1.5 times the last,
// then halves the gap between the last good and the first bad rate; it
// returns the highest rate delivered at 99% or more, the peak delivered
// rate of any step, and whether a step fell under 99% (if none did, the
// limit is above the last step, not at it).
func (e *Env) ramp(pipeline string, first int, stepTime time.Duration, maxSteps int) (int, float64, bool, error) {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return 0, 0, false, err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	spec := e.pipeline(pipeline, main)
	probe := standardLoad(first, stepTime)
	routeAll(spec, &probe, "main")
	l, err := e.launch(pipeline+" ramp", pipeline, spec, bs...)
	if err != nil {
		return 0, 0, false, err
	}
	var total loadgen.Stats
	var steps []step
	good, bad := 0, 0 // highest rate delivered at >= 99%, lowest that was not
	goodRate, peakRate := 0.0, 0.0
	rate, refine := first, pick(e, 2, 1)
	for i, limit := 0, maxSteps+refine; i < limit; i++ {
		load := standardLoad(rate, stepTime)
		load.Workers = 16
		load.DrainTimeout = 5 * time.Second
		load.Routing = probe.Routing
		before := l.delivered()
		st, _, err := l.load(e.ctx, load, total.SpansSent)
		if err != nil {
			return 0, 0, false, err
		}
		addStats(&total, st)
		target := before + st.SpansAccepted
		l.settle(func() bool { return l.delivered() >= target }, 2*time.Second, 5*time.Second)
		s := step{Rate: rate, Sent: st.SpansSent, Failed: st.SpansFailed, Delivered: l.delivered() - before}
		s.Ratio = float64(s.Delivered) / (float64(rate) * stepTime.Seconds())
		s.DeliveredRate = float64(s.Delivered) / stepTime.Seconds()
		steps = append(steps, s)
		peakRate = max(peakRate, s.DeliveredRate)
		e.logf("   %s: %d spans/s offered, %.1f%% delivered", pipeline, rate, 100*s.Ratio)
		if s.Ratio >= 0.99 {
			good, goodRate = rate, s.DeliveredRate
		} else {
			bad = rate
		}
		if bad == 0 {
			if i+1 >= maxSteps {
				break
			}
			rate = roundRate(rate * 3 / 2)
			continue
		}
		// Past the limit: halve the gap between the last good and the
		// first bad rate, refine times.
		next := roundRate((good + bad) / 2)
		if refine == 0 || next <= good || next >= bad {
			break
		}
		refine--
		rate = next
	}
	l.settle(func() bool { return l.delivered() >= total.SpansAccepted }, 3*time.Second, 30*time.Second)
	run, m := l.finish(float64(good), total)
	run.DeliveredRate = goodRate
	run.RateIsLowerBound = bad == 0
	run.Notes = append(run.Notes, fmt.Sprintf("offered = the highest rate delivered at >= 99%%, delivered = what that step delivered; %d steps of %s, peak delivery %.0f spans/s; loss, CPU and RSS cover the whole ramp",
		len(steps), stepTime, peakRate))
	if bad == 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("no step fell under 99%%: the limit is above %d spans/s, the ramp's last step", good))
	}
	e.res.Runs[len(e.res.Runs)-1] = run
	e.res.extra(pipeline+"_steps", steps)
	e.res.extra(pipeline+"_max_rate", good)

	// Overload may make the generator give up on refused requests, but
	// whatever the collector accepted must arrive.
	e.deliveryAccounting(run, total.SpansAccepted, m, 1)
	return good, peakRate, bad > 0, nil
}

// addStats adds the counts of b to a.
func addStats(a *loadgen.Stats, b loadgen.Stats) {
	a.Requests += b.Requests
	a.RequestsAccepted += b.RequestsAccepted
	a.RequestsFailed += b.RequestsFailed
	a.Attempts += b.Attempts
	a.Retries += b.Retries
	a.Throttled += b.Throttled
	a.SpansThrottled += b.SpansThrottled
	a.RetryAfterSeen += b.RetryAfterSeen
	a.ConnErrors += b.ConnErrors
	a.SpansSent += b.SpansSent
	a.SpansUnoffered += b.SpansUnoffered
	a.SpansAccepted += b.SpansAccepted
	a.SpansFailed += b.SpansFailed
	a.SpansRejected += b.SpansRejected
	a.Elapsed += b.Elapsed
	a.OfferTime += b.OfferTime
	if b.LastError != "" {
		a.LastError = b.LastError
	}
}

// roundRate rounds a rate up to a thousand spans/s.
func roundRate(r int) int { return (r + 999) / 1000 * 1000 }
