//go:build unix

package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import "golang.org/x/sys/unix"

// mapAnon returns size zeroed bytes from a private anonymous mapping, or
// from the Go heap if the mapping fails.
func mapAnon(size int) []byte {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, size)
	}
	return b
}

// unmapAnon gives back what mapAnon returned (the Go heap's, to the
// collector).
func unmapAnon(b []byte) {
	_ = unix.Munmap(b) // fails, harmlessly, for the Go heap's
}
