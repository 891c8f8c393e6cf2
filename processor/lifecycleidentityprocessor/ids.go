package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import (
	"crypto/sha256"
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// segmentTraceID returns the trace ID of segment k of trace t: the first 16
// bytes of SHA-256(t || k as 8 bytes big-endian). Segment 0 keeps t. The
// function is pure, so replays and replicas compute the same IDs.
func segmentTraceID(t pcommon.TraceID, k uint64) pcommon.TraceID {
	if k == 0 {
		return t
	}
	var buf [24]byte
	copy(buf[:16], t[:])
	binary.BigEndian.PutUint64(buf[16:], k)
	sum := sha256.Sum256(buf[:])
	var id pcommon.TraceID
	copy(id[:], sum[:16])
	if id.IsEmpty() { // an all-zero trace ID is invalid; never seen in practice
		id[15] = 1
	}
	return id
}

// spanKey turns a span ID into the integer the processor keys state by;
// 0 is the empty (invalid) span ID.
func spanKey(id pcommon.SpanID) uint64 {
	return binary.BigEndian.Uint64(id[:])
}

// mix64 is the splitmix64 finalizer: IDs from tests and some SDKs are not
// random, so filters hash them before use.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// traceHash hashes a trace ID for the filter of evicted traces.
func traceHash(t pcommon.TraceID) uint64 {
	return mix64(binary.BigEndian.Uint64(t[:8]) ^ mix64(binary.BigEndian.Uint64(t[8:])))
}

// spanHash is the 32-bit digest of a span ID that per-trace state stores in
// place of the ID itself: half the memory, and a collision (about n / 2^32)
// only ever causes an extra re-root.
func spanHash(id uint64) uint32 {
	return uint32(mix64(id) >> 32)
}
