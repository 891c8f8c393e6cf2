package scenario

import (
	"time"

	"github.com/tracebound/tracebound/testbed/jaeger"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

// CheckKind says what a failed check means.
type CheckKind string

const (
	// Correctness checks hold in every mode: a failure fails the scenario.
	Correctness CheckKind = "correctness"
	// Timing checks (speed and resource figures: CPU, RSS) are asserted in
	// full mode only (never in quick mode, whose machine may be busy with
	// other tests).
	Timing CheckKind = "timing"
	// Info checks report a finding and never fail.
	Info CheckKind = "info"
)

// Check is one verdict of a scenario.
type Check struct {
	Name   string    `json:"name"`
	Kind   CheckKind `json:"kind"`
	Pass   bool      `json:"pass"`
	Detail string    `json:"detail"`
}

// Point is one second of a run's timeline.
type Point struct {
	// T is the time in seconds since the scenario started.
	T             float64 `json:"t"`
	SentRate      float64 `json:"sent_rate"`
	DeliveredRate float64 `json:"delivered_rate"`
	CPUPercent    float64 `json:"cpu_percent"`
	RSSMiB        float64 `json:"rss_mib"`
}

// Pipeline names.
const (
	Tracebound = "tracebound"
	Baseline   = "baseline"
)

// Run is one collector process under one load.
type Run struct {
	Label    string `json:"label"`
	Pipeline string `json:"pipeline"`
	// Start is the time in seconds since the scenario started.
	Start float64 `json:"start"`
	// OfferedRate is the target rate in spans/s; SentRate what the generator
	// managed to offer; DeliveredRate what reached the backends, per second
	// of offering.
	OfferedRate   float64 `json:"offered_rate"`
	SentRate      float64 `json:"sent_rate"`
	DeliveredRate float64 `json:"delivered_rate"`
	SentSpans     int64   `json:"sent_spans"`
	AcceptedSpans int64   `json:"accepted_spans"`
	FailedSpans   int64   `json:"failed_spans"`
	// DeliveredSpans counts spans received by the backends.
	DeliveredSpans int64 `json:"delivered_spans"`
	// UnofferedSpans is what the generator's schedule held but never sent
	// because every worker was busy (loadgen.Stats.SpansUnoffered): the
	// summary's "Unsent" column. They are not part of Loss unless
	// LossCountsUnsent.
	UnofferedSpans int64 `json:"unoffered_spans"`
	// Loss is 1 - delivered/sent (0 when nothing was sent), from the
	// figures above (see RunLoss); with LossCountsUnsent (the restart
	// scenario) 1 - delivered/(sent + unoffered). Routing's is the healthy
	// destination's: 1 - received/routed to it (see its note).
	Loss float64 `json:"loss"`
	// LossCountsUnsent says Loss counts the unoffered spans as lost: only
	// where never sending them is the collector's doing (restart: the
	// socket was dead), not the generator's.
	LossCountsUnsent bool `json:"loss_counts_unsent,omitempty"`
	// RateIsLowerBound marks a max-rate ramp that never fell under 99%:
	// OfferedRate is then its last step, and the limit lies above it.
	RateIsLowerBound bool `json:"rate_is_lower_bound,omitempty"`
	// CPUPercent is the collector's mean CPU (% of one core) from ready to
	// stop; CPUMicrosPerSpan its CPU time per span accepted from the
	// generator (not per delivered span: a span may be delivered to several
	// destinations, or to none).
	CPUPercent       float64 `json:"cpu_percent"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUMicrosPerSpan float64 `json:"cpu_us_per_span"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	// Seconds is the wall time from the collector's start to its stop.
	Seconds  float64 `json:"seconds"`
	Timeline []Point `json:"timeline"`
	// Load is what the generator counted.
	Load    loadgen.Stats      `json:"load"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
}

// RunLoss is 1 - delivered/sent, floored at 0 (0 when nothing was sent);
// with countUnsent, the unsent spans join sent in the divisor.
func RunLoss(delivered, sent, unsent int64, countUnsent bool) float64 {
	if countUnsent {
		sent += unsent
	}
	if sent <= 0 {
		return 0
	}
	return max(0, 1-float64(delivered)/float64(sent))
}

// Result is the outcome of one scenario.
type Result struct {
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	// Status is passed, failed, skipped or error.
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Quick   bool      `json:"quick"`
	Started time.Time `json:"started"`
	// LoadAvg is the machine's 1-minute load average when the scenario
	// started (from /proc/loadavg): other work competes for the CPUs.
	LoadAvg float64 `json:"load_avg"`
	Seconds float64 `json:"seconds"`
	// Components is the tracebound pipeline the scenario ran.
	Components []string       `json:"components,omitempty"`
	Runs       []Run          `json:"runs"`
	Checks     []Check        `json:"checks"`
	Extra      map[string]any `json:"extra,omitempty"`
	// Ratios compares tracebound with the baseline, by name.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	// Tables are the scenario's own tables, shown under its checks.
	Tables []Table `json:"tables,omitempty"`
	// Chart is the chart's file name, next to the JSON.
	Chart string `json:"chart,omitempty"`
	// TraceMap is what a real backend returned of each run's traces
	// (real-backend), drawn as Picture, next to the JSON.
	TraceMap *TraceMap `json:"trace_map,omitempty"`
	Picture  string    `json:"picture,omitempty"`
}

// TraceMap is each run's traces as a real backend's query API returned
// them.
type TraceMap struct {
	Backend  string        `json:"backend"`
	MaxSpans int           `json:"max_spans"`
	Runs     []TraceMapRun `json:"runs"`
}

// TraceMapRun is the traces of one run.
type TraceMapRun struct {
	Label    string                `json:"label"`
	Pipeline string                `json:"pipeline"`
	Traces   []jaeger.TraceSummary `json:"traces"`
}

// Table is a table of a scenario's own figures for the report.
type Table struct {
	Title  string     `json:"title"`
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
	Notes  []string   `json:"notes,omitempty"`
}

// Statuses.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusError   = "error"
)

func (r *Result) check(kind CheckKind, name string, pass bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Kind: kind, Pass: pass, Detail: detail})
}

// Failed returns the checks that fail the scenario: correctness checks in
// every mode, timing checks outside quick mode.
func (r *Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Pass || c.Kind == Info || (c.Kind == Timing && r.Quick) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (r *Result) extra(key string, v any) {
	if r.Extra == nil {
		r.Extra = map[string]any{}
	}
	r.Extra[key] = v
}

func (r *Result) ratio(key string, v float64) {
	if r.Ratios == nil {
		r.Ratios = map[string]float64{}
	}
	r.Ratios[key] = v
}
