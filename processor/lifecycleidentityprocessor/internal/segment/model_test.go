package segment

import "time"

// model is the reference for the engine: DESIGN.md's rules of splitting
// written as plainly as possible, with maps and exact sets, no pooling, no
// filters, no window, no caps. The differential fuzz target
// (FuzzEngineVsModel) feeds both the same spans and compares decisions.
// It has no notion of bytes: max_state_mib has its own tests.
type model struct {
	maxSpans, maxTraces int
	maxAge, idle        int64 // in ticks: the engine counts time in whole milliseconds (ticks.go)
	epoch               time.Time
	now                 int64 // ticks since epoch
	clock               int64 // order of activity, for least recently active first

	traces      map[TraceID]*modelTrace
	evicted     map[TraceID]bool   // every trace whose state was dropped (invariant 6)
	lastRestart map[TraceID]uint64 // last continuation segment of a dropped trace
	drops       [NumReasons]int64  // states dropped, by reason
}

type modelTrace struct {
	seg      uint64            // current segment
	opened   int64             // when it opened
	count    map[uint64]int    // spans per segment
	where    map[uint64]uint64 // segment of every span arrived
	pending  map[uint64]uint64 // parents named and not arrived: the segment that named them first
	lastSeen int64             // tick of the last span
	active   int64             // order of the last activity
}

func newModel(cfg Config, epoch time.Time) *model {
	return &model{
		maxSpans: cfg.MaxSpans, maxTraces: cfg.MaxTraces,
		maxAge: ticks(cfg.MaxAge), idle: ticks(cfg.IdleTimeout),
		epoch: epoch, now: -1,
		traces: map[TraceID]*modelTrace{}, evicted: map[TraceID]bool{}, lastRestart: map[TraceID]uint64{},
	}
}

func (m *model) begin(now time.Time) {
	m.now = max(int64(now.Sub(m.epoch)/tick), m.now) // arrival counts in whole milliseconds
	for {
		t, tr := m.oldest()
		if tr == nil || m.now-tr.lastSeen < m.idle {
			return
		}
		m.evict(t, ReasonIdle)
	}
}

// oldest is the least recently active trace.
func (m *model) oldest() (TraceID, *modelTrace) {
	var ot TraceID
	var o *modelTrace
	for t, tr := range m.traces {
		if o == nil || tr.active < o.active {
			ot, o = t, tr
		}
	}
	return ot, o
}

func (m *model) evict(t TraceID, reason int) {
	m.drops[reason]++
	m.evicted[t] = true
	if s := m.traces[t].seg; s >= restartBase {
		m.lastRestart[t] = max(m.lastRestart[t], s)
	}
	delete(m.traces, t)
}

// trace returns the state of t, new if needed: a trace seen before whose
// state was dropped continues in segment restartBase + its first span's
// start time in microseconds, above its last continuation.
func (m *model) trace(t TraceID, start uint64) *modelTrace {
	tr := m.traces[t]
	if tr == nil {
		if len(m.traces) >= m.maxTraces {
			o, _ := m.oldest()
			m.evict(o, ReasonCapacity)
		}
		tr = &modelTrace{opened: m.now, count: map[uint64]int{}, where: map[uint64]uint64{}, pending: map[uint64]uint64{}}
		if m.evicted[t] {
			tr.seg = restartBase + start/1000
			if last, ok := m.lastRestart[t]; ok && tr.seg <= last {
				tr.seg = last + 1
			}
		}
		m.traces[t] = tr
	}
	if tr.lastSeen != m.now || tr.active == 0 {
		m.clock++
		tr.active = m.clock
	}
	tr.lastSeen = m.now
	return tr
}

// assign places span sid (parent p). own is the segment the model itself
// chooses; the span is then placed in placed (the engine's choice, which the
// fuzz target makes the model follow past a difference it allowed, so that
// both keep the same state), and reroot says whether, placed there, it is
// re-rooted.
func (m *model) assign(t TraceID, sid, p, start uint64, follow bool, engineSeg uint64) (own uint64, reroot bool) {
	tr := m.trace(t, start)
	own = tr.seg
	late := false
	if j, ok := tr.pending[sid]; ok && sid != 0 {
		delete(tr.pending, sid)
		if tr.count[j] < 2*m.maxSpans { // invariant 2: a late parent joins, up to 2 x max_spans
			own, late = j, true
		}
	}
	if !late && (tr.count[tr.seg] >= m.maxSpans || m.now-tr.opened >= m.maxAge) {
		own = tr.seg + 1 // invariant 2: the current segment is full or old
	}
	placed := own
	if follow {
		placed = engineSeg
	}
	if placed > tr.seg {
		tr.seg, tr.opened = placed, m.now
	}
	tr.count[placed]++
	if sid != 0 {
		tr.where[sid] = placed
	}
	if p == 0 {
		return own, false
	}
	// Invariant 3: a span whose parent is in (or will join) another segment
	// is re-rooted.
	if ps, ok := tr.where[p]; ok {
		return own, ps != placed
	}
	if j, ok := tr.pending[p]; ok {
		return own, j != placed
	}
	tr.pending[p] = placed
	return own, false
}
