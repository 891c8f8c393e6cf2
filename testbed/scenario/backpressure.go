package scenario

import (
	"fmt"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var backpressure = Scenario{
	Name:  "backpressure",
	Title: "Low memory_limiter and a backend outage: the client is refused, retries, and nothing is lost",
	run:   runBackpressure,
}

// Memory limiter of the scenario: a soft limit of 48 MiB of heap, which a
// few seconds of backend outage at the scenario's rate exceeds.
const (
	bpLimitMiB = 64
	bpSpikeMiB = 16
)

func runBackpressure(e *Env) error {
	rate := e.rate(pick(e, 20_000, 8_000))
	d := e.duration(pick(e, 15*time.Second, 5*time.Second))
	outage := d * 2 / 5
	e.res.extra("memory_limiter", map[string]int{"limit_mib": bpLimitMiB, "spike_limit_mib": bpSpikeMiB})
	e.res.extra("outage_seconds", outage.Seconds())
	for _, p := range []string{Tracebound, Baseline} {
		if err := e.backpressureRun(p, rate, d, outage); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) backpressureRun(pipeline string, rate int, d, outage time.Duration) error {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return err
	}
	defer closeAll(bs...)
	// Retry forever, with a queue that never fills: memory_limiter, not the
	// queue, is what holds the data back.
	main := dest{Name: "main", URL: bs[0].URL, QueueSize: 100_000}
	load := standardLoad(rate, d)
	// Larger spans (16 attributes of 64 bytes) fill the heap faster.
	load.Span = loadgen.SpanShape{Attributes: 16, AttributeSize: 64}
	load.DrainTimeout = 90 * time.Second
	spec := e.pipeline(pipeline, main)
	routeAll(&spec, &load, "main")
	spec.MemLimitMiB, spec.SpikeMiB = bpLimitMiB, bpSpikeMiB
	l, err := e.launch(pipeline+" backpressure", pipeline, spec, bs...)
	if err != nil {
		return err
	}
	bs[0].Fail(503, 0)
	heal := time.AfterFunc(outage, func() { bs[0].Fail(0, 0) })
	defer heal.Stop()
	st, _, err := l.load(e.ctx, load, 0)
	if err != nil {
		l.finish(float64(rate), st)
		return err
	}
	l.settle(func() bool { return l.delivered() >= st.SpansAccepted }, 10*time.Second, 90*time.Second)
	run, m := l.finish(float64(rate), st)
	r := e.res
	// The spans the generator never sent while its workers waited out
	// refusals are what this scenario asks of a client: finish leaves them
	// out of the loss, and the note says why they were not sent.
	if run.SentRate < 0.99*float64(rate) || st.SpansUnoffered > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("sent %.0f spans/s of the %d offered (%d spans never sent, not counted as loss): each of the generator's %d workers waits out every refusal (Retry-After when the receiver sends one, else a backoff from %s) before it sends again, as an OTLP client does",
			run.SentRate, rate, st.SpansUnoffered, load.Workers, loadgen.DefaultRetryInitial))
	}
	r.Runs[len(r.Runs)-1] = run
	r.check(Correctness, run.Label+": nothing lost: every span sent was accepted in the end and delivered",
		st.SpansFailed == 0 && st.SpansAccepted == st.SpansSent && run.DeliveredSpans == st.SpansSent,
		fmt.Sprintf("sent %d, accepted %d, failed %d%s, delivered %d", st.SpansSent, st.SpansAccepted, st.SpansFailed, lastError(st), run.DeliveredSpans))
	e.pipelineAccounting(run, st, m, 1)
	// Without pushback the scenario would prove nothing: memory_limiter must
	// have refused data, and the client must have felt it, as refusals it
	// retried (the stock receiver) or as answers held back while otlpuds's
	// admission re-offered the request (tracebound, which refuses only when
	// max_wait or the waiting room runs out).
	limiter, waited := m.Sum(mLimiterRefused, nil), m.Sum(mAdmissionWaited, nil)
	r.check(Correctness, run.Label+": backpressure engaged: memory_limiter refused, and the client waited or retried",
		limiter > 0 && (st.Throttled > 0 || waited > 0) && st.Retries >= st.Throttled,
		fmt.Sprintf("%s %.0f; %d refusals (429/503) of %d attempts, %d with Retry-After, %d retries; %s %.0f; backend refused %d requests during the %s outage",
			mLimiterRefused, limiter, st.Throttled, st.Attempts, st.RetryAfterSeen, st.Retries, mAdmissionWaited, waited, bs[0].Refused(), outage))
	// The receiver counts the spans of every refused request (the limiter
	// counts the same spans again, so the two are not added).
	ok, det := eq(mReceiverRefused, m.Sum(mReceiverRefused, nil), float64(st.SpansThrottled))
	r.check(Correctness, run.Label+": receiver refused spans match the generator's refusals",
		ok, fmt.Sprintf("%s (%s: %.0f)", det, mLimiterRefused, m.Sum(mLimiterRefused, nil)))
	if pipeline == Tracebound {
		r.check(Correctness, run.Label+": every refusal carries Retry-After",
			st.RetryAfterSeen == st.Throttled, fmt.Sprintf("%d of %d refusals", st.RetryAfterSeen, st.Throttled))
	}
	return nil
}
