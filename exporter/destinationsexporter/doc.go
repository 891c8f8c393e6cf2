// Package destinationsexporter delivers each resource of a trace batch to the
// destination named by its route attribute, each destination through its own
// stock otlphttp exporter with its own queue and retries.
package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"
