package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import "time"

// How the engine counts time. A trace's slot keeps two instants, its last
// arrival and when its current segment opened, as 32-bit counts of whole
// milliseconds since the engine's epoch (they were 64-bit nanoseconds: 8
// bytes of the slot that issue 13's 64 bytes per tracked trace could not
// spare). The counts wrap after 2^32 ms (49.7 days); only differences are
// ever taken, modulo 2^32, and they stay below that:
//
//   - a trace idle for idle_timeout is dropped at the next batch, and when
//     no batch came for idle_timeout or more every trace is dropped at once
//     (evictIdle), so now - last arrival < idle_timeout when it is read;
//   - the age of a segment is read only at a span of its trace, and at its
//     trace's first span of a millisecond an age past max_age is brought
//     back to max_age (lookup): a segment that old is closed to new spans
//     (segmentDone) whether it is max_age old or more, so nothing changes,
//     and its age stays under max_age + idle_timeout.
//
// Both durations are therefore at most MaxDuration (24 days, so the two
// add up to less than 2^32 ms); the processor's config refuses more.
//
// Arrival times are whole milliseconds: spans that arrive within the same
// millisecond count as arriving at once, and a duration is counted in
// milliseconds rounded up (ticks).

// tick is the engine's unit of time.
const tick = time.Millisecond

// MinDuration is the shortest max_age and idle_timeout the engine counts
// as given: a tick.
const MinDuration = tick

// MaxDuration is the longest max_age and idle_timeout the engine can count.
const MaxDuration = 24 * 24 * time.Hour

// ticks is d in whole ticks, rounded up: a positive duration is never 0.
func ticks(d time.Duration) int64 {
	return int64((d + tick - 1) / tick)
}

// since is the number of ticks from instant t (a slot's 32-bit count) to
// now.
func (e *Engine) since(t uint32) int64 {
	return int64(uint32(e.now) - t)
}

// stamp is now as a slot keeps it.
func (e *Engine) stamp() uint32 { return uint32(e.now) }
