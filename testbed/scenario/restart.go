package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var restart = Scenario{
	Name:  "restart",
	Title: "SIGKILL mid-load, start again: accepting on the socket within 2 s",
	run:   runRestart,
}

// restartBound is how soon the socket must accept again after SIGKILL.
const restartBound = 2 * time.Second

func runRestart(e *Env) error {
	rate := e.rate(pick(e, 10_000, 2_000))
	d := e.duration(pick(e, 10*time.Second, 4*time.Second))
	for _, p := range []string{Tracebound, Baseline} {
		if err := e.restartRun(p, rate, d); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) restartRun(pipeline string, rate int, d time.Duration) error {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return err
	}
	defer closeAll(bs...)
	main := dest{Name: "main", URL: bs[0].URL}
	load := standardLoad(rate, d)
	load.DrainTimeout = 5 * time.Second
	spec := e.pipeline(pipeline, main)
	routeAll(&spec, &load, "main")
	l, err := e.launch(pipeline+" restart", pipeline, spec, bs...)
	if err != nil {
		return err
	}
	// While the socket is dead the generator's workers retry it, and the
	// spans due meanwhile are never sent: the collector's failure to come
	// back, so they count as lost with the rest.
	l.lossCountsUnsent = true
	type outcome struct {
		took      time.Duration
		err       error
		delivered int64 // at the backend when the new process accepted
	}
	done := make(chan outcome, 1)
	killAt := time.AfterFunc(d*2/5, func() {
		took, err := l.restart()
		done <- outcome{took: took, err: err, delivered: l.delivered()}
	})
	defer killAt.Stop()
	st, _, err := l.load(e.ctx, load, 0)
	if err != nil {
		l.finish(float64(rate), st)
		return err
	}
	out := <-done
	if out.err == nil {
		l.settle(func() bool { return l.delivered() >= st.SpansAccepted }, 3*time.Second, 15*time.Second)
	}
	run, m := l.finish(float64(rate), st)
	r := e.res
	label := run.Label
	if out.err != nil {
		run.Notes = append(run.Notes, "did not come back after SIGKILL: "+out.err.Error())
		r.Runs[len(r.Runs)-1] = run
	}
	r.extra(pipeline+"_restart_ms", out.took.Milliseconds())
	r.check(Info, label+": spans lost over the run", true,
		fmt.Sprintf("planned %d (sent %d + %d never sent while the generator's workers retried the socket), delivered %d: %d lost, %.1f%%",
			st.SpansSent+st.SpansUnoffered, st.SpansSent, st.SpansUnoffered, run.DeliveredSpans,
			max(0, st.SpansSent+st.SpansUnoffered-run.DeliveredSpans), 100*run.Loss))
	if pipeline == Baseline {
		detail := fmt.Sprintf("accepting again %s after SIGKILL", out.took.Round(time.Millisecond))
		if out.err != nil {
			detail = "did not come back: " + startError(out.err.Error())
		}
		r.check(Info, label+": stock otlp receiver on transport unix after SIGKILL", true, detail)
		return nil
	}
	errText := ""
	if out.err != nil {
		errText = out.err.Error()
	}
	r.check(Correctness, label+": accepting on the socket again after SIGKILL", out.err == nil,
		fmt.Sprintf("took %s %s", out.took.Round(time.Millisecond), errText))
	r.check(Timing, fmt.Sprintf("%s: accepting again within %s", label, restartBound),
		out.err == nil && out.took <= restartBound, fmt.Sprintf("took %s", out.took.Round(time.Millisecond)))
	r.check(Correctness, label+": delivery resumes after the restart",
		out.err == nil && run.DeliveredSpans > out.delivered,
		fmt.Sprintf("backend had %d spans at the restart, %d at the end", out.delivered, run.DeliveredSpans))
	// The metrics are the restarted process's own: whatever it accepted,
	// it delivered.
	accepted, sent := m.Sum(mReceiverAccepted, nil), exporterSent(m)
	r.check(Correctness, label+": the restarted collector delivered every span it accepted",
		out.err == nil && accepted > 0 && sent == accepted && float64(run.DeliveredSpans) >= sent,
		fmt.Sprintf("restarted process: %s %.0f, exporter sent %.0f; backend %d in all", mReceiverAccepted, accepted, sent, run.DeliveredSpans))
	r.check(Info, label+": spans lost with the killed process", true,
		fmt.Sprintf("accepted %d, delivered %d: %d lost in memory (no persistent queue configured), %d failed at the client",
			st.SpansAccepted, run.DeliveredSpans, max(0, st.SpansAccepted-run.DeliveredSpans), st.SpansFailed))
	return nil
}

func firstLine(s string) string {
	if line, _, found := strings.Cut(s, "\n"); found {
		return line
	}
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// startError shortens a failed start to the collector's own error message
// when its log line carries one.
func startError(s string) string {
	const key = `"error": "`
	if i := strings.Index(s, key); i >= 0 {
		rest := s[i+len(key):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return "the collector failed to start: " + rest[:j]
		}
	}
	return firstLine(s)
}
