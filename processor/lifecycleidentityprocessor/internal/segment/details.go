package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// The middle tier. When the seen set is full, the trace does not take
// per-span state (splitState, a few hundred bytes of fixed cost) yet: the
// 32-bit digests (spanHash) of its next spans go into a plain []uint32 of
// its own (midSlab, grown by a quarter, not doubled), exactly the digests
// splitState.seenCur would have held for them. Per-span state begins when
// the open parents overflow the prefix's list or segment 0 closes; the
// slice then becomes seenCur as it is. Until then no question needs it
// (segment 0 re-roots nothing, and the open parents are in the exact list),
// so every decision is the one per-span state would have taken.

// traceState.tier says where a trace's state beyond its slot is, in one
// int32 (it was two: a trace has an open-parent list only before it has
// per-span state, so the list's head and the index of its per-span state
// need not both be kept; the 4 bytes saved were part of issue 13's 64 bytes
// per tracked trace):
//
//   - 0: the trace is in its prefix and has no open parent;
//   - above 0: it is in its prefix, and tier is the head of its list of
//     open parents in Engine.named (index+1), so &ts.tier is the list's
//     head for namedSlab;
//   - below 0: x = -1 - tier is the index of its per-span state in
//     Engine.details (x < midBase), or midBase + the index of its middle
//     tier in Engine.mids, which keeps the head of the trace's list of open
//     parents meanwhile.
const midBase = 1 << 30

func detailTier(i int32) int32 { return -1 - i }
func midTier(i int32) int32    { return -1 - midBase - i }

// detailIndex is the index of the per-span state tier points at, if it does.
func detailIndex(tier int32) (int32, bool) {
	x := -1 - tier
	return x, tier < 0 && x < midBase
}

// midIndex is the index of the middle tier tier points at, if it does.
func midIndex(tier int32) (int32, bool) {
	x := -1 - midBase - tier
	return x, tier < 0 && x >= 0
}

// namedHead is where the head of ts's list of open parents is kept; nil
// once the trace has per-span state.
func (e *Engine) namedHead(ts *traceState) *int32 {
	if ts.tier >= 0 {
		return &ts.tier
	}
	if i, ok := midIndex(ts.tier); ok {
		return &e.mids.at(i).named
	}
	return nil
}

// midTierState is a trace's middle tier: its digests, and the head of its
// list of open parents.
type midTierState struct {
	digests []uint32
	named   int32
}

// midSlab holds the middle tiers of traces, reusing freed places.
type midSlab struct {
	tiers []midTierState
	free  []int32
}

// get returns the index of an empty middle tier.
func (m *midSlab) get() int32 {
	if n := len(m.free); n > 0 {
		i := m.free[n-1]
		m.free = m.free[:n-1]
		return i
	}
	m.tiers = append(m.tiers, midTierState{})
	return int32(len(m.tiers) - 1)
}

func (m *midSlab) at(i int32) *midTierState { return &m.tiers[i] }

// take detaches middle tier i, frees its place and returns what it held.
func (m *midSlab) take(i int32) midTierState {
	t := m.tiers[i]
	m.tiers[i] = midTierState{}
	m.free = append(m.free, i)
	return t
}

// detailSlab holds the per-span state of traces, reusing freed places.
type detailSlab struct {
	states []*splitState
	spare  []int32
}

func (s *detailSlab) at(i int32) *splitState { return s.states[i] }

// put stores d and returns its index.
func (s *detailSlab) put(d *splitState) int32 {
	if n := len(s.spare); n > 0 {
		i := s.spare[n-1]
		s.spare = s.spare[:n-1]
		s.states[i] = d
		return i
	}
	s.states = append(s.states, d)
	return int32(len(s.states) - 1)
}

func (s *detailSlab) free(i int32) {
	s.states[i] = nil
	s.spare = append(s.spare, i)
}
