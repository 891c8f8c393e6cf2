package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// Lists of span digests (the middle tier, details.go, and the current
// segment's, splitState.seenCur) live in the engine's slabs (slab.go), with
// the filters, not on the Go heap: while traces fill their first segment
// they are most of the state (8 KB a trace at max_spans 2000), and on the
// heap they cost their size again in room for garbage. Every list comes
// from growDigests and goes back through dropDigests; nothing appends to
// one past its capacity (append would move it to the heap).

// appendDigest appends h to a list of span digests, growing it by a quarter
// (to the end of the block's size class), not doubling as append does
// below 256 entries: most traces stay small.
func (e *Engine) appendDigest(l []uint32, h uint32) []uint32 {
	if len(l) == cap(l) {
		l = e.growDigests(l, max(8, cap(l)+cap(l)/4))
	}
	return append(l, h)
}

// growDigests moves the digests of l to a block for at least n of them,
// gives l's block back, and counts the difference in the state's bytes.
func (e *Engine) growDigests(l []uint32, n int) []uint32 {
	m := append(e.blocks.allocDigests(n), l...)
	e.spanStateBytes += digestBytes(cap(m) - cap(l))
	e.blocks.freeDigests(l)
	return m
}

// dropDigests gives l's block back and takes it out of the state's bytes.
// Nothing may use l afterwards.
func (e *Engine) dropDigests(l []uint32) {
	e.spanStateBytes -= digestBytes(cap(l))
	e.blocks.freeDigests(l)
}
