package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Decision is what happens to one span. The zero Decision leaves the span as
// it came.
//
// Invariant 5 (provenance): a span placed in segment k >= 1 gets Segment k,
// the segment's TraceID and the Origin (hex of the original trace ID); the
// processor writes all three, and nothing else ever moves a span.
type Decision struct {
	// Segment is the index of the segment the span lands in; 0 keeps its
	// trace ID.
	Segment uint64
	// TraceID is SegmentTraceID(original, Segment) when Segment != 0.
	TraceID TraceID
	// Origin is the hex of the original trace ID when Segment != 0.
	Origin string
	// Reroot makes the span a root with a span link to its original parent
	// (original trace ID and parent span ID, lifecycle.link.type = parent).
	Reroot bool
}

// Stats are the counts the engine keeps between calls of TakeStats.
type Stats struct {
	Moved, Rerooted, Segments, LinksLost, Forgotten int64
	Evicted                                         [NumReasons]int64
}

// Eviction reasons.
const (
	ReasonIdle = iota
	ReasonCapacity
	ReasonStateBytes
	NumReasons
)

// ReasonNames are the values of the reason attribute of traces_evicted.
var ReasonNames = [NumReasons]string{"idle_timeout", "max_traces", "max_state_mib"}
