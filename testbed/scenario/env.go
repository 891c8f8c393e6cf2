// Package scenario holds the testbed's scenarios. Each runs the built
// collector binary (it builds nothing) on a config it writes to a temporary
// folder, drives it with the load generator over the collector's Unix socket,
// receives at mock backends, samples the collector's CPU and memory, and
// checks the collector's internal metrics and the backends' counts against
// what was sent. Each runs the same load through the stock pipeline (otlp
// receiver on transport unix -> memory_limiter -> batch -> otlp_http) for a
// baseline.
package scenario

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
)

// Options configure a testbed run.
type Options struct {
	// Binary is the collector binary (bin/otelcol-tracebound).
	Binary string
	// AgentBinary is the load-balancing agent `make lb-agent` builds
	// (.tools/lb-agent/otelcol-lb-agent), which scale-out puts in front of
	// the replicas; "" or a missing file skips that scenario.
	AgentBinary string
	// Jaeger is the Jaeger v2 all-in-one binary the real-backend scenario
	// runs (make jaeger builds .tools/bin/jaeger); "" skips that scenario.
	Jaeger string
	// WorkDir keeps each scenario's collector configs, sockets and logs in
	// WorkDir/<scenario> (emptied first); "" uses a temporary folder,
	// removed at the end. Keep it short: socket paths are limited to 107
	// bytes.
	WorkDir string
	// Quick runs small rates for a few seconds and asserts correctness
	// only.
	Quick bool
	// Rate (spans/s) and Duration override each scenario's own when set.
	Rate     int
	Duration time.Duration
	// HeapProfiles, when set, adds the pprof extension to every collector
	// and saves its heap profile every HeapProfileEvery while it runs, in
	// HeapProfiles/<scenario>/ (see heapprofile.go).
	HeapProfiles     string
	HeapProfileEvery time.Duration
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

// Env is the context of one scenario.
type Env struct {
	Options
	ctx   context.Context
	comps collector.Components
	res   *Result
	start time.Time
	dir   string
	seq   int
	lives []*live // every collector launched, for clean-up
}

type need struct{ kind, name string }

// Scenario is one testbed scenario.
type Scenario struct {
	Name  string
	Title string
	// Needs lists the tracebound components without which it is skipped.
	Needs []need
	// Agent says it runs the load-balancing agent (Options.AgentBinary),
	// without which it is skipped.
	Agent bool
	// NeedsJaeger skips it when Options.Jaeger names no binary.
	NeedsJaeger bool
	run         func(e *Env) error
}

// All returns every scenario, in the order make testbed runs them.
func All() []Scenario {
	return []Scenario{steady, maxRate, lifecycle, routing, backpressure, hostile, restart, scaleOut, realBackend}
}

// Find returns the scenario named name.
func Find(name string) (Scenario, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// stockNeeds are what the baseline and the ingress need in every scenario.
var stockNeeds = []need{{"receivers", "otlpuds"}, {"receivers", "otlp"}, {"processors", "batch"}, {"processors", "memory_limiter"}}

// Execute runs one scenario and returns its result; it never panics on a
// collector's failure but reports it as the result's status.
func Execute(ctx context.Context, opts Options, sc Scenario) (res Result) {
	res = Result{Scenario: sc.Name, Title: sc.Title, Quick: opts.Quick, Started: time.Now().UTC(), LoadAvg: loadAvg()}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	defer func() { res.Seconds = time.Since(res.Started).Seconds() }()
	defer func() {
		// Deferred before the clean-up below, so it runs after it: a
		// panicking scenario leaves no collector behind either.
		if r := recover(); r != nil {
			res.Status, res.Reason = StatusError, fmt.Sprintf("panic: %v", r)
		}
	}()
	if sc.NeedsJaeger {
		if reason := jaegerMissing(opts.Jaeger); reason != "" {
			res.Status, res.Reason = StatusSkipped, "skipped: "+reason
			return res
		}
	}
	comps, err := collector.ListComponents(opts.Binary)
	if err != nil {
		res.Status, res.Reason = StatusError, err.Error()
		return res
	}
	var missing []string
	for _, n := range append(append([]need{}, stockNeeds...), sc.Needs...) {
		if !comps.Has(n.kind, n.name) {
			missing = append(missing, n.kind+"/"+n.name)
		}
	}
	if comps.OTLPHTTPExporter() == "" {
		missing = append(missing, "exporters/otlp_http")
	}
	if len(missing) > 0 {
		res.Status = StatusSkipped
		res.Reason = fmt.Sprintf("skipped: %s lacks %s (see `%s components`)",
			filepath.Base(opts.Binary), strings.Join(missing, ", "), opts.Binary)
		return res
	}
	if sc.Agent {
		if reason := agentMissing(opts.AgentBinary); reason != "" {
			res.Status, res.Reason = StatusSkipped, "skipped: "+reason
			return res
		}
	}
	var dir string
	if opts.WorkDir != "" {
		// Kept for the user to read: one fresh folder per scenario, since
		// socket names repeat and a killed collector leaves its socket.
		// Absolute: the socket path must read as a path, not a TCP address.
		dir, err = filepath.Abs(filepath.Join(opts.WorkDir, sc.Name))
		if err == nil {
			err = os.RemoveAll(dir)
		}
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			res.Status, res.Reason = StatusError, err.Error()
			return res
		}
	} else {
		// Socket paths must stay short (108 bytes): a short temp name.
		dir, err = os.MkdirTemp("", "tb-")
		if err != nil {
			res.Status, res.Reason = StatusError, err.Error()
			return res
		}
		defer os.RemoveAll(dir)
	}
	e := &Env{Options: opts, ctx: ctx, comps: comps, res: &res, start: time.Now(), dir: dir}
	// Runs before the work folder is removed: stop every collector the
	// scenario did not finish (it returned an error or panicked).
	defer e.cleanup()
	e.logf("== %s (%s mode)", sc.Name, map[bool]string{true: "quick", false: "full"}[opts.Quick])
	if err := sc.run(e); err != nil {
		res.Status, res.Reason = StatusError, err.Error()
		e.logf("   error: %v", err)
		return res
	}
	if failed := res.Failed(); len(failed) > 0 {
		res.Status = StatusFailed
		var names []string
		for _, c := range failed {
			names = append(names, c.Name)
		}
		res.Reason = "failed checks: " + strings.Join(names, "; ")
	} else {
		res.Status = StatusPassed
	}
	e.logf("   %s in %.0fs", res.Status, time.Since(e.start).Seconds())
	return res
}

// agentMissing says why the load-balancing agent at path cannot run the
// scale-out scenario, "" when it can.
func agentMissing(path string) string {
	if path == "" {
		return "no load-balancing agent binary given (-agent; `make lb-agent` builds it)"
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Sprintf("no load-balancing agent at %s (`make lb-agent` builds it)", path)
	}
	comps, err := collector.ListComponents(path)
	if err != nil {
		return err.Error()
	}
	var missing []string
	for _, n := range agentNeeds {
		if !comps.Has(n.kind, n.name) {
			missing = append(missing, n.kind+"/"+n.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%s lacks %s", path, strings.Join(missing, ", "))
	}
	return ""
}

// cleanup shuts down every collector still running.
func (e *Env) cleanup() {
	for _, l := range e.lives {
		l.shutdown()
	}
}

func (e *Env) logf(format string, args ...any) {
	fmt.Fprintf(e.Log, format+"\n", args...)
}

// has reports whether the binary holds a component.
func (e *Env) has(kind, name string) bool { return e.comps.Has(kind, name) }

// pick returns the full-mode or quick-mode value.
func pick[T any](e *Env, full, quick T) T {
	if e.Quick {
		return quick
	}
	return full
}

// rate returns the scenario's rate, or the -rate override.
func (e *Env) rate(def int) int {
	if e.Rate > 0 {
		return e.Rate
	}
	return def
}

// duration returns the scenario's duration, or the -duration override.
func (e *Env) duration(def time.Duration) time.Duration {
	if e.Duration > 0 {
		return e.Duration
	}
	return def
}

// socket returns a fresh socket path in the work folder.
func (e *Env) socket() string {
	e.seq++
	return filepath.Join(e.dir, fmt.Sprintf("s%d.sock", e.seq))
}

// tbPipeline returns the full tracebound pipeline this binary can run:
// lifecycle_identity and trace_routing with destinations when present.
func (e *Env) tbPipeline(dests ...dest) pipelineSpec {
	return pipelineSpec{
		Socket:    e.socket(),
		Lifecycle: e.has("processors", "lifecycle_identity"),
		MaxSpans:  2000,
		Routing:   e.has("processors", "trace_routing") && e.has("exporters", "destinations"),
		Dests:     dests,
	}
}

// basePipeline is the stock pipeline: otlp on transport unix ->
// memory_limiter (the same settings as tracebound's) -> batch -> otlp_http.
func (e *Env) basePipeline(dests ...dest) pipelineSpec {
	return pipelineSpec{Baseline: true, Socket: e.socket(), Dests: dests}
}

// pipeline returns the pipeline named (Tracebound or Baseline) to dests.
func (e *Env) pipeline(name string, dests ...dest) pipelineSpec {
	if name == Tracebound {
		return e.tbPipeline(dests...)
	}
	return e.basePipeline(dests...)
}

// loadAvg reads the 1-minute load average; 0 when unknown.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	_, _ = fmt.Sscan(string(data), &v)
	return v
}
