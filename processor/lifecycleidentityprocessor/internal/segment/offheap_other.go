//go:build !unix

package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// mapAnon returns size zeroed bytes: from the Go heap, where there are no
// anonymous mappings to take them from.
func mapAnon(size int) []byte { return make([]byte, size) }

func unmapAnon([]byte) {}
