package scenario

import (
	"fmt"
	"strings"
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
	Rate int   `json:"rate"`
	Sent int64 `json:"sent"`
	// Unoffered is what the schedule held but the generator never sent.
	Unoffered int64 `json:"unoffered"`
	// Delivered counts the step's spans that arrived, until the backend
	// had them all or delivery stalled; InTime those that arrived by
	// stepGrace after the step's end.
	Delivered int64 `json:"delivered"`
	InTime    int64 `json:"delivered_in_time"`
	Failed    int64 `json:"failed"`
	// Ratio is InTime / (Rate x the step's length): the step keeps up at
	// 0.99 or more.
	Ratio float64 `json:"delivered_ratio"`
	// Covered is the time from the step's start until its last span
	// arrived (or delivery stalled); DeliveredRate is Delivered / Covered,
	// so it never counts the drain after the step as time of the step.
	Covered       float64 `json:"covered_seconds"`
	DeliveredRate float64 `json:"delivered_rate"`
}

// stepGrace is how long after a step's end its spans may still arrive and
// count as delivered in time: the batch processor's 200 ms timeout and the
// export, with room for a busy machine.
const stepGrace = time.Second

// rampOutcome is what one ramp found.
type rampOutcome struct {
	Pipeline string  `json:"pipeline"`
	Good     int     `json:"highest_good_rate"`
	Peak     float64 `json:"peak_delivered_rate"`
	Limit    bool    `json:"limit_found"`
}

func runMaxRate(e *Env) error {
	first := e.rate(pick(e, 25_000, 2_000))
	stepTime := e.duration(pick(e, 6*time.Second, 2*time.Second))
	// Up to 12 steps of x1.5 (25k to 2.2M spans/s in full mode): the ramp
	// stops at the first step under 99%, so the cap only bounds the run.
	maxSteps := pick(e, 12, 2)
	// Full mode ramps each pipeline twice, tracebound, baseline, baseline,
	// tracebound, so neither always runs first on a machine that drifts;
	// quick mode, which asserts no rate, ramps each once.
	order := pick(e, []string{Tracebound, Baseline, Baseline, Tracebound}, []string{Tracebound, Baseline})
	var ramps []rampOutcome
	for i, p := range order {
		label := p + " ramp"
		if len(order) > 2 {
			label = fmt.Sprintf("%s ramp %d", p, i/2+1)
		}
		good, top, limit, err := e.ramp(p, label, first, stepTime, maxSteps)
		if err != nil {
			return err
		}
		ramps = append(ramps, rampOutcome{Pipeline: p, Good: good, Peak: top, Limit: limit})
	}
	e.res.extra("ramps", ramps)
	sum := summariseRamps(ramps)
	tb, bl := sum[Tracebound], sum[Baseline]
	// A ramp that never fell under 99% only says the limit is above its
	// last step: the ratio is then no ratio of limits.
	if bl.Good > 0 && tb.Limit && bl.Limit {
		e.res.ratio("max_rate", float64(tb.Good)/float64(bl.Good))
	}
	rateText := func(o rampSummary) string {
		t := fmt.Sprintf("%d spans/s", o.Good)
		if len(o.Goods) > 1 {
			t = fmt.Sprintf("%d spans/s (mean of %v)", o.Good, o.Goods)
		}
		if !o.Limit {
			t = "at least " + t + " (a ramp's last step never fell under 99%)"
		}
		return t
	}
	e.res.check(Info, "highest rate delivered at >= 99%", true,
		fmt.Sprintf("tracebound %s, baseline %s (peak delivery %.0f and %.0f spans/s); noisy: the generator, the backends and the collector share the machine",
			rateText(tb), rateText(bl), tb.Peak, bl.Peak))
	return nil
}

// rampSummary is one pipeline's ramps together: Good is the mean of their
// highest good rates, Goods each ramp's, in the order they ran.
type rampSummary struct {
	rampOutcome
	Goods []int
}

// summariseRamps gives, per pipeline, the mean of its ramps' highest good
// rates (rounded down to 1000 spans/s) and each of them, the highest peak,
// and whether every ramp found its limit.
func summariseRamps(ramps []rampOutcome) map[string]rampSummary {
	out := map[string]rampSummary{}
	for _, r := range ramps {
		o, ok := out[r.Pipeline]
		if !ok {
			o = rampSummary{rampOutcome: rampOutcome{Pipeline: r.Pipeline, Limit: true}}
		}
		o.Goods = append(o.Goods, r.Good)
		o.Peak = max(o.Peak, r.Peak)
		o.Limit = o.Limit && r.Limit
		out[r.Pipeline] = o
	}
	for p, o := range out {
		sum := 0
		for _, g := range o.Goods {
			sum += g
		}
		o.Good = sum / len(o.Goods) / 1000 * 1000
		out[p] = o
	}
	return out
}

// ramp runs one collector under rising rates, each step 1.5 times the last,
// then halves the gap between the last good and the first bad rate; it
// returns the highest rate delivered at 99% or more, the peak delivered
// rate of any step, and whether a step fell under 99% (if none did, the
// limit is above the last step, not at it).
func (e *Env) ramp(pipeline, label string, first int, stepTime time.Duration, maxSteps int) (int, float64, bool, error) {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return 0, 0, false, err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	spec := e.pipeline(pipeline, main)
	probe := standardLoad(first, stepTime)
	routeAll(&spec, &probe, "main")
	l, err := e.launch(label, pipeline, spec, bs...)
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
		start := time.Now()
		inTime := sampleAt(start.Add(stepTime+stepGrace), l.delivered)
		st, _, err := l.load(e.ctx, load, total.SpansSent)
		if err != nil {
			return 0, 0, false, err
		}
		addStats(&total, st)
		target := before + st.SpansAccepted
		l.settle(func() bool { return l.delivered() >= target }, 2*time.Second, 5*time.Second)
		s := step{Rate: rate, Sent: st.SpansSent, Unoffered: st.SpansUnoffered, Failed: st.SpansFailed,
			Delivered: l.delivered() - before, Covered: time.Since(start).Seconds()}
		s.InTime = inTime() - before
		s.Ratio, s.DeliveredRate = stepRates(s.InTime, s.Delivered, rate, stepTime, s.Covered)
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
	run.Notes = append(run.Notes, fmt.Sprintf("offered = the highest rate delivered at >= 99%% (by %s after the step), delivered = that step's spans per second from its start to its last delivery; %d steps of %s, peak delivery %.0f spans/s; loss (over the spans sent), unsent spans (%d the generator could not send as the steps rose past what the machine sustains), CPU and RSS cover the whole ramp",
		stepGrace, len(steps), stepTime, peakRate, total.SpansUnoffered))
	if bad == 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("no step fell under 99%%: the limit is above %d spans/s, the ramp's last step", good))
	}
	e.res.Runs[len(e.res.Runs)-1] = run
	e.res.extra(strings.ReplaceAll(label, " ", "_")+"_steps", steps)

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

// stepRates returns a step's ratio (what arrived by the grace after its
// end over what the schedule held) and its delivered rate (what arrived
// over the time from its start to its last delivery, covered seconds).
func stepRates(inTime, delivered int64, rate int, stepTime time.Duration, covered float64) (ratio, deliveredRate float64) {
	if planned := float64(rate) * stepTime.Seconds(); planned > 0 {
		ratio = float64(inTime) / planned
	}
	if covered > 0 {
		deliveredRate = float64(delivered) / covered
	}
	return ratio, deliveredRate
}

// sampleAt reads f at the time at, in the background, and returns a
// function giving that reading: at once, reading f itself, when at has not
// come yet (all that f counts arrived before it), else waiting for the
// background reading.
func sampleAt(at time.Time, f func() int64) func() int64 {
	ch := make(chan int64, 1)
	stop := make(chan struct{})
	t := time.NewTimer(time.Until(at))
	go func() {
		select {
		case <-t.C:
			ch <- f()
		case <-stop:
		}
	}()
	return func() int64 {
		if time.Now().Before(at) && t.Stop() {
			close(stop)
			return f()
		}
		return <-ch
	}
}
