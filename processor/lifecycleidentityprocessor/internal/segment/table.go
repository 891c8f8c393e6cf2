package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// traceState is what the processor holds for every tracked trace. It is kept
// small (72 bytes, plus 16 to 32 bytes of index) because most traces never
// split: the first spans of a trace are recorded in the inline seen set and
// the shared list of open parents (prefix.go), then in a middle tier of
// 32-bit digests; per-span state lives in splitState and exists only for
// traces whose open parents outgrow the prefix or that split (see
// Engine.startDetail). A trace without splitState
// is in segment 0; the index of the current segment lives in splitState.
type traceState struct {
	id       TraceID
	lastSeen uint32  // last arrival, in ticks since the engine's epoch, modulo 2^32 (ticks.go)
	opened   uint32  // when the current segment opened, as lastSeen
	count    uint32  // spans in the current segment
	prev     int32   // LRU list, towards the least recently active
	next     int32   // LRU list, towards the most recently active
	tier     int32   // open parents of the prefix, middle tier or per-span state (details.go)
	seen     seenSet // fingerprints of the span IDs of the prefix (see prefix.go)
}

const (
	nilIdx     = int32(-1)
	chunkShift = 10
	chunkSize  = 1 << chunkShift
)

// traceTable stores traceStates in fixed-size chunks (no per-trace
// allocation, no large reallocation) with a map from trace ID to slot and an
// intrusive doubly linked list ordered by last activity: the head is the
// least recently active trace, evicted first. The chunks and the index live
// outside the Go heap (offheap.go); release gives them back.
type traceTable struct {
	mem    *offHeap
	index  traceIndex
	chunks []*[chunkSize]traceState
	slots  int32 // slots handed out so far
	free   int32 // head of the free list, linked through next
	n      int   // live traces
	head   int32
	tail   int32
}

// newTraceTable returns a table that holds at most maxTraces traces (at
// most MaxTraces): its index stores slot numbers in the bits they need.
func newTraceTable(maxTraces int) traceTable {
	mem := newOffHeap()
	return traceTable{mem: mem, index: newTraceIndex(mem, maxTraces), free: nilIdx, head: nilIdx, tail: nilIdx}
}

// release gives back the table's memory; the table must not be used
// afterwards.
func (t *traceTable) release() {
	t.mem.release()
	*t = traceTable{}
}

func (t *traceTable) at(i int32) *traceState {
	return &t.chunks[i>>chunkShift][i&(chunkSize-1)]
}

func (t *traceTable) get(id TraceID) (int32, bool) {
	return t.index.get(id, t)
}

// insert adds a trace at the most recently active end and returns its slot.
func (t *traceTable) insert(id TraceID) int32 {
	var i int32
	if t.free != nilIdx {
		i = t.free
		t.free = t.at(i).next
	} else {
		if int(t.slots>>chunkShift) == len(t.chunks) {
			t.chunks = append(t.chunks, t.mem.allocChunk())
		}
		i = t.slots
		t.slots++
	}
	*t.at(i) = traceState{id: id, prev: nilIdx, next: nilIdx}
	t.index.put(id, i, t)
	t.pushBack(i)
	t.n++
	return i
}

// remove forgets a trace and frees its slot.
func (t *traceTable) remove(i int32) {
	ts := t.at(i)
	t.index.del(ts.id, t)
	t.unlink(i)
	*ts = traceState{next: t.free}
	t.free = i
	t.n--
}
