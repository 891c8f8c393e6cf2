// Package lifecycleidentityprocessor checks lifecycle identity attributes on
// spans and cuts oversized traces into bounded segments, each a valid trace
// linked back to the original.
package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

//go:generate mdatagen metadata.yaml
