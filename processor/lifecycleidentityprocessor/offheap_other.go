//go:build !unix

package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

// mapAnon returns size zeroed bytes: from the Go heap, where there are no
// anonymous mappings to take them from.
func mapAnon(size int) []byte { return make([]byte, size) }

func unmapAnon([]byte) {}
