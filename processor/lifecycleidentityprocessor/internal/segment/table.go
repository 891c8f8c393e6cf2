package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// traceState is what the processor holds for every tracked trace. It is kept
// small (56 bytes, plus 5 to 10 bytes of index) because most traces never
// split: the first spans of a trace are recorded in the inline seen set and
// the shared list of open parents (prefix.go), then in a middle tier of
// 32-bit digests; per-span state lives in splitState and exists only for
// traces whose open parents outgrow the prefix or that split (see
// Engine.startDetail). A trace without splitState
// is in segment 0; the index of the current segment lives in splitState.
//
// Issue 13 asked for at most 64 bytes per tracked trace; the slot was 72
// bytes. What made it 56: instants as 32-bit millisecond counts (ticks.go),
// one int32 for the state beyond the slot (tier, details.go), and the LRU
// links and the span count in one word (links, below).
type traceState struct {
	id       TraceID
	links    uint64  // LRU list and span count (see links)
	lastSeen uint32  // last arrival, in ticks since the engine's epoch, modulo 2^32 (ticks.go)
	opened   uint32  // when the current segment opened, as lastSeen
	tier     int32   // open parents of the prefix, middle tier or per-span state (details.go)
	seen     seenSet // fingerprints of the span IDs of the prefix (see prefix.go)
}

// links holds, from the low bits, the slot towards the least recently
// active trace (prev) and towards the most recently active (next), 24 bits
// each (all ones: none), and the spans in the current segment, 16 bits. So
// a table holds at most MaxTraces traces and a segment at most 2 x MaxSpans
// spans (a late parent may take it to twice max_spans); the processor's
// config refuses more. Together they take 8 bytes where they took 12.
const (
	linkBits   = 24
	linkNil    = 1<<linkBits - 1
	countShift = 2 * linkBits
	countOne   = uint64(1) << countShift

	// MaxTraces is the most traces a table can hold: slot numbers take 24
	// bits in the LRU links.
	MaxTraces = linkNil
	// MaxSpans is the largest max_spans a 16-bit span count allows: a
	// segment holds at most twice as many.
	MaxSpans = 1<<(64-countShift-1) - 1
)

// link reads the slot number at shift in ts.links (nilIdx for none).
func (ts *traceState) link(shift uint) int32 {
	return int32((ts.links>>shift+1)&linkNil) - 1
}

func (ts *traceState) setLink(shift uint, i int32) {
	ts.links = ts.links&^(linkNil<<shift) | uint64(uint32(i)&linkNil)<<shift
}

func (ts *traceState) prev() int32     { return ts.link(0) }
func (ts *traceState) next() int32     { return ts.link(linkBits) }
func (ts *traceState) setPrev(i int32) { ts.setLink(0, i) }
func (ts *traceState) setNext(i int32) { ts.setLink(linkBits, i) }
func (ts *traceState) spans() uint32   { return uint32(ts.links >> countShift) }
func (ts *traceState) addSpan()        { ts.links += countOne }
func (ts *traceState) resetSpans()     { ts.links &= countOne - 1 }

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
		t.free = t.at(i).next()
	} else {
		if int(t.slots>>chunkShift) == len(t.chunks) {
			t.chunks = append(t.chunks, t.mem.allocChunk())
		}
		i = t.slots
		t.slots++
	}
	*t.at(i) = traceState{id: id, links: linkNil | linkNil<<linkBits}
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
	*ts = traceState{}
	ts.setNext(t.free)
	t.free = i
	t.n--
}
