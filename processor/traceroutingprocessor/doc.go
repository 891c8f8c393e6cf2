// Package traceroutingprocessor implements the trace_routing processor: it
// reads each request's trace config (client metadata header, or the
// trace.config resource attribute) and emits one stamped copy of every
// resource per destination the config names, for the destinations exporter
// to deliver. See README.md.
//
//go:generate mdatagen metadata.yaml
package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"
