// Package destinationsexporter delivers each resource of a trace batch to
// every destination of the route the trace_routing processor stamped on it
// (route.Attribute), each destination through its own stock otlphttp
// exporter with its own queue and retries. It decides no route itself.
package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"
