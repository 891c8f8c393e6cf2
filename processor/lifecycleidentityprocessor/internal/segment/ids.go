package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import (
	"crypto/sha256"
	"encoding/binary"
)

// TraceID is a trace ID as the engine sees it (the bytes of pdata's).
type TraceID [16]byte

// SegmentTraceID returns the trace ID of segment k of trace t: the first 16
// bytes of SHA-256(t || k as 8 bytes big-endian). Segment 0 keeps t. The
// function is pure, so replays and replicas compute the same IDs.
//
// Invariant 4 (deterministic IDs) is this function: every segment trace ID
// the engine hands out comes from it.
func SegmentTraceID(t TraceID, k uint64) TraceID {
	if k == 0 {
		return t
	}
	var buf [24]byte
	copy(buf[:16], t[:])
	binary.BigEndian.PutUint64(buf[16:], k)
	sum := sha256.Sum256(buf[:])
	var id TraceID
	copy(id[:], sum[:16])
	if id == (TraceID{}) { // an all-zero trace ID is invalid; never seen in practice
		id[15] = 1
	}
	return id
}

// SpanKey turns a span ID into the integer the engine keys state by; 0 is
// the empty (invalid) span ID.
func SpanKey(id [8]byte) uint64 {
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
func traceHash(t TraceID) uint64 {
	return mix64(binary.BigEndian.Uint64(t[:8]) ^ mix64(binary.BigEndian.Uint64(t[8:])))
}

// spanHash is the 32-bit digest of a span ID that per-trace state stores in
// place of the ID itself: half the memory, and a collision (about n / 2^32)
// only ever causes an extra re-root.
func spanHash(id uint64) uint32 {
	return uint32(mix64(id) >> 32)
}
