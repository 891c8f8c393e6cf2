// Package traceroutingprocessor implements the trace_routing processor: it
// reads each request's trace config (a client metadata header in the
// producer's own encoding, or the trace.config resource attribute), decides
// every resource's destinations (the producer's own, a routes table, or a
// policy) and stamps the resource once with its route and trace_config.*
// fields, for the destinations exporter to copy and deliver. See README.md.
//
//go:generate mdatagen metadata.yaml
package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"
