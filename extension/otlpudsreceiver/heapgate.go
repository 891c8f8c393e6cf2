package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import "time"

// The heap gate closes the gap between memory_limiter's checks.
//
// memory_limiter reads the heap every check_interval and refuses until its
// next check. A producer that waited in a line has a backlog, and sends it
// as fast as it is answered: in the window between two checks, requests
// taken at once (a new arrival when nobody waits, or the next in line after
// the head was taken) pushed the heap far past the soft limit (testbed
// backpressure, check_interval 100 ms: 84 to 109 MiB read at checks
// against a soft limit of 48 MiB). Go lets the heap grow to twice what a
// collection finds live, so the process peaked at 150 to 164 MiB RSS
// against stock's 118 to 125, stock's producers having no backlog (their
// refused data is gone).
//
// So while a line's pipeline refuses (gateHold after its last refusal, or
// while anyone waits in it), a request is taken at once only if the heap
// is below the line's level: the heap at which the pipeline takes a head
// offered retryInterval after the line's previous offer. Such an offer
// follows a fresh memory_limiter check closely, so its heap is near what
// memory_limiter allows, learned from its own answers: otlpuds needs none
// of its settings, and gets no level from a pipeline without it. The level
// moves a quarter of the way to each such reading instead of keeping the
// highest: the reading counts garbage not yet swept, so one taken as a
// collection ends can be far above what memory_limiter judged, and kept
// as the level it let the heap run to twice the soft limit (testbed
// backpressure: 132 to 140 MiB peak RSS against stock's 120 to 125, 99 to
// 108 following the readings). A request held by the gate lines up and is
// offered as any head is, every retryInterval, so memory_limiter stays the
// judge of every offer; the gate only stops the rush between its checks.
const (
	// gateHold is how long a line stays guarded after its pipeline last
	// refused: twice the longest gcAfter, so that a pause between two
	// refusals while the pipeline drains does not open the gate.
	gateHold = 2 * maxGCAfter
)

// heapObjects is the heap memory_limiter judges (runtime.MemStats.Alloc:
// objects, live or not yet swept).
func heapObjects() uint64 { return runtimeCount("/memory/classes/heap/objects:bytes") }

// gateClosedLocked reports whether line l's next request must wait for a
// paced offer: the line is guarded and the heap is at its level or above.
func (a *admission) gateClosedLocked(l *line, now time.Time) bool {
	if l.heapLevel == 0 {
		return false
	}
	if l.waiters.Len() == 0 && now.Sub(l.lastRefused) >= gateHold {
		return false
	}
	return a.readHeap() >= l.heapLevel
}

// learnLocked moves line l's level a quarter of the way to the heap read
// before a paced offer the pipeline took (the first such offer sets it).
func (l *line) learnLocked(heapAtOffer uint64) {
	if heapAtOffer == 0 {
		return
	}
	if l.heapLevel == 0 {
		l.heapLevel = heapAtOffer
		return
	}
	l.heapLevel = l.heapLevel - l.heapLevel/4 + heapAtOffer/4
}
