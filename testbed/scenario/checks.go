package scenario

import (
	"fmt"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

// Internal metric names (the Prometheus exporter may add _total; Sum
// matches both).
const (
	mReceiverAccepted   = "otelcol_receiver_accepted_spans"
	mReceiverRefused    = "otelcol_receiver_refused_spans"
	mExporterSent       = "otelcol_exporter_sent_spans"
	mExporterSendFailed = "otelcol_exporter_send_failed_spans"
	mLimiterRefused     = "otelcol_processor_memory_limiter_refused_spans"
	mLifecycleProcessed = "otelcol_processor_lifecycle_identity_spans_processed"
	mLifecycleViolation = "otelcol_processor_lifecycle_identity_violations"
	mLifecycleSegments  = "otelcol_processor_lifecycle_identity_segments_opened"
	mLifecycleRerooted  = "otelcol_processor_lifecycle_identity_spans_rerooted"
	mLifecycleMoved     = "otelcol_processor_lifecycle_identity_spans_moved"
	mLifecycleLinksLost = "otelcol_processor_lifecycle_identity_parent_links_lost"
	mRoutingRouted      = "otelcol_processor_trace_routing_spans_routed"
	mRoutingDropped     = "otelcol_processor_trace_routing_spans_dropped"
	mDestRouted         = "otelcol_exporter_destinations_spans_routed"
	mDestSent           = "otelcol_exporter_destinations_spans_sent"
	mDestLost           = "otelcol_exporter_destinations_spans_lost"
	mDestDropped        = "otelcol_exporter_destinations_spans_dropped"
	mExporterEnqFailed  = "otelcol_exporter_enqueue_failed_spans"
)

// exporterSent is what the exporters report as delivered: the destinations
// exporter's own count when it runs, else the stock exporters'.
func exporterSent(m collector.Metrics) float64 {
	if m.Has(mDestSent) {
		return m.Sum(mDestSent, nil)
	}
	return m.Sum(mExporterSent, nil)
}

func eq(name string, got, want float64) (bool, string) {
	return got == want, fmt.Sprintf("%s: %.0f, expected %.0f", name, got, want)
}

// pipelineAccounting checks, for one run through a healthy backend, that
// every span sent was accepted and delivered once (see deliveryAccounting).
func (e *Env) pipelineAccounting(run Run, st loadgen.Stats, m collector.Metrics, fanout int64) {
	e.res.check(Correctness, run.Label+": every request accepted", st.SpansFailed == 0 && st.SpansRejected == 0,
		fmt.Sprintf("sent %d, accepted %d, failed %d, rejected %d%s", st.SpansSent, st.SpansAccepted, st.SpansFailed, st.SpansRejected, lastError(st)))
	e.deliveryAccounting(run, st.SpansAccepted, m, fanout)
}

// deliveryAccounting checks that every span the collector accepted reached
// the backends fanout times, and that the collector's own metrics say the
// same: receiver accepted = the generator's accepted, exporters sent =
// delivered, and the tracebound processors counted every span.
func (e *Env) deliveryAccounting(run Run, accepted int64, m collector.Metrics, fanout int64) {
	r := e.res
	ok, d := eq("delivered spans", float64(run.DeliveredSpans), float64(fanout*accepted))
	r.check(Correctness, run.Label+": every accepted span delivered once", ok, d)
	ok, d = eq(mReceiverAccepted, m.Sum(mReceiverAccepted, nil), float64(accepted))
	r.check(Correctness, run.Label+": receiver metrics match the generator", ok, d)
	ok, d = eq("exporter sent spans", exporterSent(m), float64(run.DeliveredSpans))
	r.check(Correctness, run.Label+": exporter metrics match the backend", ok, d)
	if run.Pipeline != Tracebound {
		return
	}
	// Keyed on the pipeline, not on the metric being there: a counter that
	// went missing from the scrape must fail the check, not skip it.
	if e.has("processors", "lifecycle_identity") {
		ok, d = eq(mLifecycleProcessed, m.Sum(mLifecycleProcessed, nil), float64(accepted))
		r.check(Correctness, run.Label+": lifecycle_identity counted every span", ok, d)
		v := m.Sum(mLifecycleViolation, nil)
		r.check(Correctness, run.Label+": no identity violations on well-formed spans", v == 0, fmt.Sprintf("%s: %.0f", mLifecycleViolation, v))
	}
	if e.has("processors", "trace_routing") && e.has("exporters", "destinations") {
		ok, d = eq(mRoutingRouted, m.Sum(mRoutingRouted, nil), float64(fanout*accepted))
		r.check(Correctness, run.Label+": trace_routing routed every span", ok, d)
	}
}

// lastError renders the generator's last error for a check's detail.
func lastError(st loadgen.Stats) string {
	if st.LastError == "" {
		return ""
	}
	return " (last error: " + firstLine(st.LastError) + ")"
}
