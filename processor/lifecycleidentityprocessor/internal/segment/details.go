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

// midDetail and midIndex convert between an index into the middle-tier slab
// and the value of traceState.detail that points at it (-2 and below).
func midDetail(i int32) int32 { return noDetail - 1 - i }
func midIndex(d int32) int32  { return noDetail - 1 - d }

// midSlab holds the middle tiers of traces, reusing freed places.
type midSlab struct {
	lists [][]uint32
	free  []int32
}

// get returns the index of an empty middle tier.
func (m *midSlab) get() int32 {
	if n := len(m.free); n > 0 {
		i := m.free[n-1]
		m.free = m.free[:n-1]
		return i
	}
	m.lists = append(m.lists, nil)
	return int32(len(m.lists) - 1)
}

func (m *midSlab) at(i int32) *[]uint32 { return &m.lists[i] }

// take detaches middle tier i, frees its place and returns its digests.
func (m *midSlab) take(i int32) []uint32 {
	l := m.lists[i]
	m.lists[i] = nil
	m.free = append(m.free, i)
	return l
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
