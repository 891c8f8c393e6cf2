package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// restartBase is the first segment index used for a trace that continues
// after its state was dropped. Such a trace opens segment
// restartBase + (start time, in Unix microseconds, of the span that arrives
// first after the drop), raised if needed above the last segment the trace
// used in its previous continuation (kept in restartedSet). The index comes
// from the data, so replays and replicas that dropped the state at the same
// point agree on it. Ordinary segment indices count up from 0 and never come
// near 2^52, so a continuation can never grow a segment that was closed,
// whatever it held.
const restartBase = uint64(1) << 52

// RestartBase is restartBase, for tests outside the package.
const RestartBase = restartBase

// rememberEviction records that the state of ts is being dropped.
func (e *Engine) rememberEviction(ts *traceState) {
	if e.evicted == nil {
		e.evicted = newEvictedSet(e.table.mem, max(e.maxTraces, minEvictedMemory))
	}
	e.evicted.add(traceHash(ts.id))
	if d := e.detail(ts); d != nil && d.seg >= restartBase {
		if e.restarted == nil {
			e.restarted = newRestartedSet(max(e.maxTraces, minEvictedMemory))
		}
		e.restarted.add(traceHash(ts.id), d.seg)
	}
}

// restart starts a trace that continues after its state was dropped in a
// fresh segment beyond any it may have used: restartBase + the start time (in
// Unix microseconds) of its first span, above the last segment of its
// previous continuation.
func (e *Engine) restart(ts *traceState, start uint64) {
	k := restartBase + start/1000
	if e.restarted != nil {
		if last, ok := e.restarted.last(traceHash(ts.id)); ok && k <= last {
			k = last + 1
		}
	}
	e.startDetail(ts, k)
	e.stats.Segments++
}

// evictedSet remembers which traces had their state dropped, so that a trace
// that continues afterwards opens a fresh segment instead of growing one that
// may be closed. Two generations of fixed size rotate: it remembers at least
// the last `capacity` evictions and at most twice as many, in fixed memory
// (24 bits per remembered trace, about 0.003% false positives: a false
// positive renames a brand-new trace, so it is kept rare). Its bits
// (600 KB at the default max_traces) live outside the Go heap, in mem, with
// the trace table's (offheap.go).
type evictedSet struct {
	cur, prev *bloom
}

// evictedBitsPerKey: 24 bits per remembered trace (see evictedSet).
const evictedBitsPerKey = 24

func newEvictedSet(mem *offHeap, capacity int) *evictedSet {
	return &evictedSet{
		cur:  newBloomIn(mem, capacity, evictedBitsPerKey, 12),
		prev: newBloomIn(mem, capacity, evictedBitsPerKey, 12),
	}
}

func (e *evictedSet) add(h uint64) {
	if e.cur.full() {
		e.cur, e.prev = e.prev, e.cur
		e.cur.reset()
	}
	e.cur.add(mix64(h))
}

func (e *evictedSet) has(h uint64) bool {
	m := mix64(h)
	return e.cur.has(m) || e.prev.has(m)
}

// restartedSet remembers, for traces whose state was dropped while they were
// in a continuation segment, the last segment they used, so that a further
// continuation starts beyond it. Two generations of maps rotate: it remembers
// at least the last `capacity` such evictions (entries are added only for
// continuations, rare next to evictions of ordinary traces).
type restartedSet struct {
	cur, prev map[uint64]uint64
	capacity  int
}

func newRestartedSet(capacity int) *restartedSet {
	return &restartedSet{cur: map[uint64]uint64{}, capacity: capacity}
}

func (r *restartedSet) add(h, seg uint64) {
	if len(r.cur) >= r.capacity {
		r.cur, r.prev = map[uint64]uint64{}, r.cur
	}
	r.cur[h] = max(seg, r.cur[h])
}

func (r *restartedSet) last(h uint64) (uint64, bool) {
	a, ok := r.cur[h]
	b, ok2 := r.prev[h]
	return max(a, b), ok || ok2
}
