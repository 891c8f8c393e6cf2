// Package segment is the engine of the lifecycle_identity processor's
// splitting: it decides, span by span as spans arrive, which segment of its
// trace a span lands in and whether it must be re-rooted. It knows span and
// trace IDs, arrival time and span start times, nothing of pdata: the
// processor reads spans, asks Assign, and writes what the Decision says.
//
// Where DESIGN.md's six invariants of splitting live:
//
//  1. Nothing lost, nothing doubled: Assign returns exactly one Decision per
//     span and never drops one; the processor applies it in place (its
//     apply, processor.go).
//  2. Bounded: Engine.segmentDone and Engine.mayJoin (bounds.go).
//  3. Valid trees: splitState.parentInCurrent and parentInClosed
//     (splitstate.go), and the prefix's open parents (prefix.go) before them.
//  4. Deterministic IDs: SegmentTraceID (ids.go).
//  5. Provenance: Decision (decision.go) carries the origin and index of
//     every span placed in a segment k >= 1.
//  6. Bounded state: evict.go (idle_timeout, max_traces, max_state_mib) and
//     continuation.go (a trace continuing after eviction never grows a
//     closed segment).
package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import "time"

// Config is what the engine needs of the processor's split configuration.
type Config struct {
	MaxSpans    int // at most MaxSpans (the processor's config refuses more)
	MaxAge      time.Duration
	IdleTimeout time.Duration
	MaxTraces   int // at most MaxTraces (the processor's config refuses more)
	// MaxStateBytes bounds the memory the state takes (0: no bound).
	MaxStateBytes int64
}

// Engine assigns every span to a segment as it arrives. It buffers no span.
// It is not safe for concurrent use; the processor serialises calls.
type Engine struct {
	maxSpans   uint32
	capSpans   uint32 // 2 x max_spans: no segment ever holds more
	maxAge     int64  // ticks (ticks.go)
	idle       int64  // ticks
	maxTraces  int
	maxBytes   int64
	maxPending int // cap of splitState.pendingClosed
	opts       options

	epoch time.Time
	now   int64 // ticks since epoch, set per batch (ticks.go)

	table     traceTable
	details   detailSlab
	mids      midSlab
	named     namedSlab     // open parents named by the prefixes of traces
	blocks    *slabAlloc    // per-span state's filter bits and digest lists, outside the Go heap (slab.go)
	evicted   *evictedSet   // allocated at the first eviction
	restarted *restartedSet // allocated at the first eviction of a continuation

	spanStateBytes int64 // what per-span state holds, its blocks in slabs included (accounted in budget.go)

	lastID  TraceID // one-entry lookup cache: spans of a trace come together
	lastIdx int32
	recent  recentCache // traces seen in this batch (recent.go)

	stats Stats
}

// New returns an engine; epoch is the instant arrival times count from.
func New(cfg Config, epoch time.Time, opts ...Option) *Engine {
	cfg.MaxTraces = min(max(cfg.MaxTraces, 1), MaxTraces)
	cfg.MaxSpans = min(max(cfg.MaxSpans, 1), MaxSpans)
	e := &Engine{
		maxSpans:   uint32(cfg.MaxSpans),
		capSpans:   uint32(2 * cfg.MaxSpans),
		maxAge:     ticks(min(cfg.MaxAge, MaxDuration)),
		idle:       ticks(min(cfg.IdleTimeout, MaxDuration)),
		maxTraces:  cfg.MaxTraces,
		maxBytes:   cfg.MaxStateBytes,
		maxPending: cfg.MaxSpans,
		opts:       defaultOptions(),
		epoch:      epoch,
		table:      newTraceTable(cfg.MaxTraces),
		blocks:     newSlabAlloc(),
		lastIdx:    nilIdx,
		now:        -1,
	}
	for _, o := range opts {
		o(&e.opts)
	}
	return e
}

// Begin sets the arrival time of the batch about to be processed and drops
// the state of idle traces.
func (e *Engine) Begin(now time.Time) {
	// Time never goes back, so "already moved to the recent end in this
	// millisecond" is a comparison of lastSeen with now.
	prev := e.now
	e.now = max(int64(now.Sub(e.epoch)/tick), e.now)
	// The lookup caches hold for one batch: a trace found there was marked
	// active in it. Kept across batches, a trace whose spans alone filled
	// batch after batch was never marked active again, and its state was
	// dropped idle_timeout after its first batch, however busy it was
	// (found by FuzzEngineVsModel).
	e.lastIdx = nilIdx
	e.recent.next()
	// After a pause of idle_timeout or more every trace is idle (none
	// arrived after prev); their 32-bit instants may have wrapped since
	// (ticks.go), so that is known from the pause, not from them.
	e.evictIdle(e.now-prev >= e.idle)
}

// Tracked is the number of traces whose state is held.
func (e *Engine) Tracked() int { return e.table.n }

// TakeStats returns the counts since the last call and resets them.
func (e *Engine) TakeStats() Stats {
	st := e.stats
	e.stats = Stats{}
	return st
}

// Reset drops all state (shutdown). The evicted set's memory goes with the
// table's, the filters' and digest lists' with their slabs.
func (e *Engine) Reset() {
	e.table.release()
	e.table = newTraceTable(e.maxTraces)
	e.blocks.release()
	e.details, e.mids, e.named = detailSlab{}, midSlab{}, namedSlab{}
	e.evicted, e.restarted = nil, nil
	e.spanStateBytes = 0
	e.lastIdx = nilIdx
	e.recent = recentCache{}
}

// lookup returns the slot of trace t, creating its state if needed, and marks
// it active now. start is the start time of the span being assigned: a new
// trace that continues after its state was dropped takes its segment index
// from it (continuation.go).
func (e *Engine) lookup(t TraceID, start uint64) int32 {
	if e.lastIdx != nilIdx && e.lastID == t {
		return e.lastIdx
	}
	if i, ok := e.recent.get(&t); ok {
		e.lastID, e.lastIdx = t, i
		return i // already moved to the recent end during this batch
	}
	i, ok := e.table.get(t)
	if ok {
		ts := e.table.at(i)
		if ts.lastSeen == e.stamp() {
			e.lastID, e.lastIdx = t, i
			e.recent.put(&t, i)
			return i // already moved to the recent end in this millisecond
		}
		if e.since(ts.opened) > e.maxAge {
			ts.opened = e.stamp() - uint32(e.maxAge) // keeps its age under 2^32 ticks (ticks.go)
		}
		e.table.touch(i)
	} else {
		e.makeRoom()
		i = e.table.insert(t)
		ts := e.table.at(i)
		ts.opened = e.stamp()
		if e.evicted != nil && e.evicted.has(traceHash(t)) {
			e.restart(ts, start)
		}
	}
	e.table.at(i).lastSeen = e.stamp()
	e.lastID, e.lastIdx = t, i
	e.recent.put(&t, i)
	return i
}

func (e *Engine) detail(ts *traceState) *splitState {
	if i, ok := detailIndex(ts.tier); ok {
		return e.details.at(i)
	}
	return nil
}

// startDetail allocates per-span state for a trace whose current segment is
// seg. The parents its prefix named that have not arrived become parents
// named in segment 0 (the prefix is in segment 0), the digests of its middle
// tier become those of the current segment (segment 0), and its seen set is
// frozen.
func (e *Engine) startDetail(ts *traceState, seg uint64) *splitState {
	d := newSplitState(ts.id, seg)
	if _, ok := midIndex(ts.tier); ok {
		d.seenCur = e.takeMid(ts)
	}
	if ts.tier > 0 { // the prefix's open parents
		e.named.drain(&ts.tier, d.named)
	}
	ts.tier = detailTier(e.details.put(d))
	e.account(d)
	return d
}

// openSegment closes the current segment of a trace and opens the next.
func (e *Engine) openSegment(ts *traceState) *splitState {
	d := e.detail(ts)
	if d == nil {
		d = e.startDetail(ts, 0) // a trace without per-span state is in segment 0
	}
	d.closeCurrent(e, ts.id, d.seg, ts.spans())
	d.setSegment(ts.id, d.seg+1)
	ts.resetSpans()
	ts.opened = e.stamp()
	e.stats.Segments++
	e.account(d)
	return d
}
