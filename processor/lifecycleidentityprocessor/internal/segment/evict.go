package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Invariant 6 (bounded state): the state of a trace is dropped after
// idle_timeout without spans (evictIdle), and the least recently active
// trace is dropped first while more than max_traces traces are tracked or
// the state takes more than max_state_mib (makeRoom, overBudget). Every drop
// goes through evict, which counts it and remembers the trace, so that a
// trace continuing afterwards never grows a closed segment
// (continuation.go).

// minEvictedMemory is the least number of evictions the engine remembers
// (see evictedSet), whatever max_traces is.
const minEvictedMemory = 1 << 16

// evictIdle drops the idle traces; all: every trace is idle.
func (e *Engine) evictIdle(all bool) {
	for e.table.head != nilIdx && (all || e.since(e.table.at(e.table.head).lastSeen) >= e.idle) {
		e.evict(e.table.head, ReasonIdle)
	}
	e.enforceBudget(nilIdx)
}

// makeRoom evicts what a new trace needs to fit: the least recently active
// trace at max_traces, and as many as the byte budget asks.
func (e *Engine) makeRoom() {
	if e.table.n >= e.maxTraces {
		e.evict(e.table.head, ReasonCapacity)
	}
	e.enforceBudget(nilIdx)
}

// enforceBudget evicts the least recently active traces, but never keep
// (the trace being assigned), while the state takes more than max_state_mib.
func (e *Engine) enforceBudget(keep int32) {
	for e.overBudget() && e.table.head != nilIdx && e.table.head != keep {
		e.evict(e.table.head, ReasonStateBytes)
	}
}

func (e *Engine) evict(i int32, reason int) {
	ts := e.table.at(i)
	e.rememberEviction(ts)
	if di, ok := detailIndex(ts.tier); ok {
		d := e.details.at(di)
		e.spanStateBytes -= d.heldBytes()
		d.release(e.blocks)
		e.details.free(di)
	} else {
		if _, ok := midIndex(ts.tier); ok {
			e.dropDigests(e.takeMid(ts)) // puts the open parents' head back in ts.tier
		}
		if ts.tier > 0 {
			e.named.drain(&ts.tier, nil)
		}
	}
	e.recent.drop(&ts.id)
	e.table.remove(i)
	e.lastIdx = nilIdx
	e.stats.Evicted[reason]++
}
