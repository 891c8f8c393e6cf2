package scenario

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
	"github.com/tracebound/tracebound/testbed/monitor"
)

// live is one collector under test with its backends, monitor and timeline.
type live struct {
	e        *Env
	label    string
	pipeline string
	binary   string
	spec     pipelineSpec
	cfgPath  string
	port     int
	backends []sink
	// lossCountsUnsent makes finish count the spans the generator never
	// sent as lost (see Run.LossCountsUnsent); set before finish.
	lossCountsUnsent bool
	// forwards says the backends are not this collector's own destinations
	// but those of the collectors it forwards to (the load-balancing
	// agent), which send copies: finish then waits for the exporter to
	// have sent what the receiver accepted, not what the backends hold.
	forwards bool

	mu        sync.Mutex
	proc      *collector.Process
	restarted bool // the exporter counters no longer cover the whole run
	closed    bool // shut down: a restart in flight must not leave a process
	mon       *monitor.Monitor
	start     time.Time

	closeOnce sync.Once
	stopErr   error
	summary   monitor.Summary

	sent     atomic.Pointer[func() int64]
	ticks    []tick
	stopTick chan struct{}
	tickDone chan struct{}
	profDone chan struct{} // nil unless heap profiles are saved
}

type tick struct {
	at        time.Duration
	sent      int64
	delivered int64
}

// sink is where a collector under test delivers: a mock backend, or a real
// one (Jaeger).
type sink interface {
	// Spans is the spans it holds so far.
	Spans() int64
	// Problem says what went wrong on its side, "" when nothing did.
	Problem() string
}

// mockSink is a mock backend as a sink.
type mockSink struct{ *mockbackend.Backend }

func (m mockSink) Problem() string {
	if n := m.BadRequests(); n > 0 {
		return fmt.Sprintf("backend %s: %d undecodable requests", m.Name(), n)
	}
	return ""
}

// launch starts a collector on spec, exporting to backends, and waits until
// its socket accepts OTLP requests.
func (e *Env) launch(label, pipeline string, spec pipelineSpec, backends ...*mockbackend.Backend) (*live, error) {
	return e.launchTo(label, pipeline, spec, mockSinks(backends)...)
}

// launchTo is launch to any sinks (a real backend, say).
func (e *Env) launchTo(label, pipeline string, spec pipelineSpec, backends ...sink) (*live, error) {
	render := func(s pipelineSpec, metricsPort int) (string, []string) {
		return s.config(e.comps.OTLPHTTPExporter(), metricsPort)
	}
	return e.launchBinary(label, pipeline, e.Binary, spec, render, backends...)
}

// mockSinks are mock backends as the sinks a run counts.
func mockSinks(backends []*mockbackend.Backend) []sink {
	sinks := make([]sink, len(backends))
	for i, b := range backends {
		sinks[i] = mockSink{b}
	}
	return sinks
}

// launchBinary starts binary on the config render writes for spec (its
// PprofPort set first under -heap-profiles) and self-telemetry on
// metricsPort, and waits until it accepts OTLP: on spec.OTLPGRPC when set,
// else on spec.Socket. backends are what the run's delivered counts.
func (e *Env) launchBinary(label, pipeline, binary string, spec pipelineSpec, render func(spec pipelineSpec, metricsPort int) (string, []string), backends ...sink) (*live, error) {
	port, err := collector.FreePort()
	if err != nil {
		return nil, err
	}
	if e.HeapProfiles != "" {
		if spec.PprofPort, err = collector.FreePort(); err != nil {
			return nil, err
		}
	}
	cfg, comps := render(spec, port)
	e.seq++
	path, err := collector.WriteConfig(e.dir, fmt.Sprintf("%s-%d-%s", e.res.Scenario, e.seq, pipeline), cfg)
	if err != nil {
		return nil, err
	}
	l := &live{e: e, label: label, pipeline: pipeline, binary: binary, spec: spec, cfgPath: path, port: port, backends: backends}
	if pipeline == Tracebound && binary == e.Binary {
		e.res.Components = comps
	}
	if err := l.startProcess(); err != nil {
		return nil, err
	}
	l.start = time.Now()
	l.mon = monitor.Start(l.proc.PID(), time.Second)
	l.stopTick, l.tickDone = make(chan struct{}), make(chan struct{})
	go l.tickLoop()
	if e.HeapProfiles != "" {
		dir := filepath.Join(e.HeapProfiles, e.res.Scenario)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		l.profDone = make(chan struct{})
		go l.profileHeap(dir, e.seq, e.HeapProfileEvery, l.stopTick, l.profDone)
	}
	// Execute shuts down whatever a scenario left running (an error or a
	// panic between launch and finish), so no collector outlives it.
	e.lives = append(e.lives, l)
	e.logf("   %s: started (%s)", label, strings.Join(comps, " -> "))
	return l, nil
}

// startProcess starts the collector and waits until it accepts OTLP.
func (l *live) startProcess() error {
	p, err := collector.Start(l.binary, l.cfgPath, l.port)
	if err != nil {
		return err
	}
	wait := func() error {
		if l.spec.OTLPGRPC != "" {
			return waitListening(l.spec.OTLPGRPC, 15*time.Second, p)
		}
		_, err := waitAccepting(l.spec.Socket, 15*time.Second, p)
		return err
	}
	if err := wait(); err != nil {
		p.Kill()
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// A restart raced with shutdown: this process has no owner.
		p.Kill()
		return errors.New("collector started after its run was shut down; killed")
	}
	l.proc = p
	return nil
}

// shutdown stops the collector (SIGTERM, then SIGKILL after 20 s), the
// timeline and the monitor, once; finish and Execute's clean-up both call
// it.
func (l *live) shutdown() {
	l.closeOnce.Do(func() {
		// The timeline and the monitor stop first, so the monitor's last
		// sample reads the live process: the CPU it used since the sample
		// before counts (read after the exit, it would be lost).
		close(l.stopTick)
		<-l.tickDone
		if l.profDone != nil {
			<-l.profDone
		}
		l.summary = l.mon.Stop()
		l.mu.Lock()
		l.closed = true
		p := l.proc
		l.mu.Unlock()
		l.stopErr = p.Stop(20 * time.Second)
	})
}

// waitAccepting probes the socket until it answers 200 and returns how long
// it took; it gives up at timeout or when p exits.
func waitAccepting(socket string, timeout time.Duration, p *collector.Process) (time.Duration, error) {
	start := time.Now()
	c := loadgen.NewClient(socket, 1, time.Second)
	defer c.Close()
	var last error
	for time.Since(start) < timeout {
		if p != nil {
			select {
			case <-p.Exited():
				return 0, fmt.Errorf("collector exited (%v): %s", p.ExitErr(), p.LogTail(10))
			default:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = c.Probe(ctx)
		cancel()
		if last == nil {
			return time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("socket %s not accepting after %s: %v", socket, timeout, last)
}

// waitListening dials addr until it takes a TCP connection (the otlp
// receiver's gRPC server is up); it gives up at timeout or when p exits.
func waitListening(addr string, timeout time.Duration, p *collector.Process) error {
	var last error
	for start := time.Now(); time.Since(start) < timeout; time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.Exited():
			return fmt.Errorf("collector exited (%v): %s", p.ExitErr(), p.LogTail(10))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		last = err
	}
	return fmt.Errorf("%s not listening after %s: %v", addr, timeout, last)
}

func (l *live) tickLoop() {
	defer close(l.tickDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stopTick:
			return
		case <-t.C:
			var sent int64
			if f := l.sent.Load(); f != nil {
				sent = (*f)()
			}
			l.mu.Lock()
			l.ticks = append(l.ticks, tick{at: time.Since(l.start), sent: sent, delivered: l.delivered()})
			l.mu.Unlock()
		}
	}
}

// follow makes the timeline count the generators' sent spans, on top of
// what earlier generators of this run sent.
func (l *live) follow(base int64, gs ...*loadgen.Generator) {
	f := func() int64 {
		n := base
		for _, g := range gs {
			s, _, _ := g.Progress()
			n += s
		}
		return n
	}
	l.sent.Store(&f)
}

// delivered is the spans received by all backends.
func (l *live) delivered() int64 {
	var n int64
	for _, b := range l.backends {
		n += b.Spans()
	}
	return n
}

// process is the current collector process.
func (l *live) process() *collector.Process {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.proc
}

// load runs one generator against the collector's socket.
func (l *live) load(ctx context.Context, cfg loadgen.Config, base int64) (loadgen.Stats, *loadgen.Generator, error) {
	cfg.Endpoint = l.spec.Socket
	g, err := loadgen.New(cfg)
	if err != nil {
		return loadgen.Stats{}, nil, err
	}
	l.follow(base, g)
	st := g.Run(ctx)
	return st, g, nil
}

// settle waits until done returns true, or delivery has not moved for
// stall, or timeout.
func (l *live) settle(done func() bool, stall, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	last, lastMove := l.delivered(), time.Now()
	for time.Now().Before(deadline) && l.e.ctx.Err() == nil {
		if done() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		if d := l.delivered(); d != last {
			last, lastMove = d, time.Now()
		} else if time.Since(lastMove) > stall {
			return done()
		}
	}
	return done()
}

// restart kills the collector with SIGKILL, starts it again on the same
// config and returns how long the socket took to accept again (from the
// kill).
func (l *live) restart() (time.Duration, error) {
	return l.restartAfter(func(p *collector.Process) { p.Kill() })
}

// restartAfter stops the collector with stop, which returns once the
// process is gone, starts it again on the same config and returns how
// long it took from the stop until it accepted again.
func (l *live) restartAfter(stop func(p *collector.Process)) (time.Duration, error) {
	stopped := time.Now()
	stop(l.process())
	if err := l.startProcess(); err != nil {
		return 0, err
	}
	took := time.Since(stopped)
	l.mu.Lock()
	l.restarted = true
	l.mu.Unlock()
	l.mon.SetPID(l.process().PID())
	return took, nil
}

// finish scrapes the internal metrics, stops the collector, and returns the
// run's figures (sent and delivered are filled by the caller's load).
func (l *live) finish(offered float64, st loadgen.Stats) (Run, collector.Metrics) {
	p := l.process()
	l.mu.Lock()
	restarted := l.restarted
	l.mu.Unlock()
	// An exporter counts a request as sent when its answer is back, a
	// moment after the backend counted it: give the counters that moment.
	var metrics collector.Metrics
	var err error
	// After a restart the backends also hold what the killed process sent:
	// wait instead for the exporters to have sent what this process's
	// receiver accepted.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		metrics, err = p.Scrape()
		if err != nil || time.Now().After(deadline) {
			break
		}
		target := float64(l.delivered())
		if restarted || l.forwards {
			target = metrics.Sum(mReceiverAccepted, nil)
		}
		if exporterSent(metrics) >= target {
			break
		}
	}
	run := Run{Label: l.label, Pipeline: l.pipeline, Start: l.start.Sub(l.e.start).Seconds(), OfferedRate: offered}
	if err != nil {
		run.Notes = append(run.Notes, "final scrape failed: "+err.Error())
	}
	l.shutdown()
	if l.stopErr != nil {
		run.Notes = append(run.Notes, l.stopErr.Error())
	}
	sum := l.summary
	run.Seconds = time.Since(l.start).Seconds()
	run.account(st, l.delivered(), l.lossCountsUnsent)
	run.CPUSeconds = sum.CPUSeconds
	run.CPUPercent = sum.CPUPercent
	// CPU per span divides by the spans the collector accepted, the work
	// it was given, the same for both pipelines under the same load: per
	// delivered span would charge tracebound for what a failing
	// destination never received, and the baseline, which sends every
	// span to every destination, for none of its copies.
	if st.SpansAccepted > 0 {
		run.CPUMicrosPerSpan = 1e6 * sum.CPUSeconds / float64(st.SpansAccepted)
	}
	run.PeakRSSMiB = float64(sum.PeakRSSBytes) / (1 << 20)
	run.Timeline = l.timeline(sum.Samples)
	run.Metrics = metrics.WithPrefix("otelcol_receiver_", "otelcol_exporter_", "otelcol_processor_")
	for _, b := range l.backends {
		if p := b.Problem(); p != "" {
			run.Notes = append(run.Notes, p)
		}
	}
	l.e.res.Runs = append(l.e.res.Runs, run)
	l.e.logf("   %s: sent %d (%.0f/s), never sent %d, delivered %d (%.0f/s), loss %.2f%%, CPU %.0f%%, %.2f us/span, peak RSS %.0f MiB",
		l.label, run.SentSpans, run.SentRate, run.UnofferedSpans, run.DeliveredSpans, run.DeliveredRate, 100*run.Loss,
		run.CPUPercent, run.CPUMicrosPerSpan, run.PeakRSSMiB)
	return run, metrics
}

// account fills the run's span counts, rates and loss from the generator's
// stats and the spans the backends received.
func (run *Run) account(st loadgen.Stats, delivered int64, countUnsent bool) {
	run.Load = st
	run.SentSpans, run.AcceptedSpans, run.FailedSpans = st.SpansSent, st.SpansAccepted, st.SpansFailed
	run.DeliveredSpans = delivered
	if st.OfferTime > 0 {
		run.SentRate = float64(st.SpansSent) / st.OfferTime.Seconds()
		run.DeliveredRate = float64(run.DeliveredSpans) / st.OfferTime.Seconds()
	}
	// Loss is over the spans sent. The spans the generator never sent
	// (every worker busy: retrying refusals, or short of CPU in an
	// overload) are reported beside it, not in it, save where the
	// scenario says never sending them was the collector's doing.
	run.UnofferedSpans = st.SpansUnoffered
	run.LossCountsUnsent = countUnsent
	run.Loss = RunLoss(run.DeliveredSpans, run.SentSpans, run.UnofferedSpans, run.LossCountsUnsent)
}

// timeline joins the per-second rates with the monitor's samples.
func (l *live) timeline(samples []monitor.Sample) []Point {
	l.mu.Lock()
	defer l.mu.Unlock()
	offset := l.start.Sub(l.e.start).Seconds()
	var out []Point
	var prev tick
	for i, t := range l.ticks {
		dt := (t.at - prev.at).Seconds()
		p := Point{T: offset + t.at.Seconds()}
		if dt > 0 {
			p.SentRate = math.Max(0, float64(t.sent-prev.sent)/dt)
			p.DeliveredRate = math.Max(0, float64(t.delivered-prev.delivered)/dt)
		}
		// The monitor samples on its own ticker, started at the same time:
		// take the sample nearest in time.
		if len(samples) > 0 {
			j := min(i, len(samples)-1)
			p.CPUPercent = samples[j].CPUPercent
			p.RSSMiB = float64(samples[j].RSSBytes) / (1 << 20)
		}
		out = append(out, p)
		prev = t
	}
	return out
}

// closeAll closes backends.
func closeAll(bs ...*mockbackend.Backend) {
	for _, b := range bs {
		_ = b.Close()
	}
}

// newBackends starts one backend per options, or none if one fails.
func newBackends(opts ...mockbackend.Options) ([]*mockbackend.Backend, error) {
	var out []*mockbackend.Backend
	for _, o := range opts {
		b, err := mockbackend.Start(o)
		if err != nil {
			closeAll(out...)
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
