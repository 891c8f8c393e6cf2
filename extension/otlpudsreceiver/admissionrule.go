package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import "container/list"

// The rule by which the admission hands out room in flight, in one place
// (dispatchLocked):
//
//   - Requests come in two kinds. A body of known size is a plain body
//     with a Content-Length: it grows to that length at most, as fast as
//     the peer sends it. A body of unknown size is compressed, or sent
//     without a Content-Length: what it grows to is learnt only by
//     reading it, and a decompression bomb grows to max_request_body_size
//     from a few hundred bytes on the wire, at the speed of the decoder.
//   - Every request is charged to the budget (request_limit_mib). Bodies
//     of unknown size are also charged to their share of it: together
//     they hold at most unknownShareDivisor-th of the budget.
//   - Within a kind, room goes in arrival order, bodies being read (which
//     hold memory already) before requests waiting to be admitted.
//   - A request of known size never waits for one of unknown size: it is
//     admitted, or its body grows, whenever it fits in the budget,
//     whatever bodies of unknown size wait. Those wait for any request
//     ahead of them, of either kind.
//   - The oldest request still reading may grow past the budget when
//     requests still reading hold all of it, and the oldest body of
//     unknown size still reading past the share when such bodies hold all
//     of it (mayOvershoot), so requests that each hold part of the budget
//     or share never all wait for one another; bytes in flight pass each
//     bound by one body at most.
//
// So 40 senders of decompression bombs hold at most half of the budget
// between them, however fast they come back, and a producer of plain
// requests beside them is admitted and read as if they were not there.
// Bodies of unknown size may still wait behind plain requests that keep
// the budget full: that is load, which max_wait bounds.

// unknownShareDivisor: bodies of unknown size together hold at most
// request_limit_mib / unknownShareDivisor.
const unknownShareDivisor = 2

// requestKind is a request's kind: its body's size known or not.
type requestKind int

const (
	knownSize requestKind = iota
	unknownSize
	numRequestKinds
)

// holding is what a set of requests holds in flight against a limit: the
// budget for every request, the share for bodies of unknown size.
type holding struct {
	limit    int64 // 0: no limit
	inFlight int64
	reading  int64 // the part of inFlight charged to requests still reading
	// readers are the requests still reading their body, oldest first.
	readers list.List
}

// fits says whether n more bytes fit: always when nothing is held, so a
// request over the limit by itself goes alone.
func (h *holding) fits(n int64) bool {
	return h.limit == 0 || h.inFlight+n <= h.limit || h.inFlight == 0
}

// mayOvershoot says whether the reader at e may grow past the limit: it is
// the oldest request still reading, and requests still reading hold every
// byte charged here. Those may all be waiting for one another (or stalled
// until read_body_timeout), so one of them must go on; while bytes are held
// by requests past reading, they free them as they are answered, and
// readers wait for that. So bytes in flight pass the limit by one body at
// most: bodies are charged as they arrive, and readers admitted at their
// first buffer must not take turns to pass it while the ones before them
// are still in the pipeline.
func (h *holding) mayOvershoot(e *list.Element) bool {
	return e != nil && h.readers.Front() == e && h.reading == h.inFlight
}

// a.holds[0] is the budget, which every request is charged to; a.holds[1]
// the share, which bodies of unknown size are charged to as well. So a
// request of kind k is charged to a.holds[:k+1].
const numHoldings = int(numRequestKinds)

// setLimit sets the budget, of limit bytes (0: none), and the share.
func (a *admission) setLimit(limit int64) {
	a.holds[0].limit = limit
	a.holds[1].limit = limit / unknownShareDivisor
}

// holdings is how many of a.holds the request is charged to.
func (t *ticket) holdings() int { return int(t.kind) + 1 }

// blocks records, for each holding, the kinds of request that must not
// take its room because a waiter ahead of them was refused it.
type blocks [numHoldings][numRequestKinds]bool

// roomLocked says whether w may have its room now. growing is true for a
// body being read (which may overshoot), false for a request waiting to be
// admitted. A holding that refuses a waiter is closed, for the waiters
// behind it, to its kind and to requests of unknown size.
func (a *admission) roomLocked(w *waiter, growing bool, blocked *blocks) bool {
	t := w.t
	ok := true
	for i := range t.holdings() {
		h := &a.holds[i]
		if growing && h.mayOvershoot(t.reader[i]) {
			continue
		}
		if blocked[i][t.kind] || !h.fits(w.n) {
			ok = false
			blocked[i][t.kind] = true
			blocked[i][unknownSize] = true
		}
	}
	return ok
}

// closed says whether no request waiting to be admitted may have
// room any more.
func (b *blocks) closed() bool {
	return b[0][knownSize] && (b[0][unknownSize] || b[1][unknownSize])
}

// dispatchLocked hands free room to the waiters, by the rule above: bodies
// being read first, then requests to admit, each in arrival order within
// its kind.
func (a *admission) dispatchLocked() {
	var blocked blocks
	for e := a.growing.Front(); e != nil; {
		next := e.Next()
		if w := e.Value.(*waiter); a.roomLocked(w, true, &blocked) {
			a.growing.Remove(e)
			a.grantLocked(w)
		}
		e = next
	}
	for e := a.admitQ.Front(); e != nil && !blocked.closed(); {
		next := e.Next()
		if w := e.Value.(*waiter); a.roomLocked(w, false, &blocked) {
			a.admitQ.Remove(e)
			a.grantLocked(w)
			a.startReadingLocked(w.t)
		}
		e = next
	}
}

// startReadingLocked makes t one of the requests still reading.
func (a *admission) startReadingLocked(t *ticket) {
	for i := range t.holdings() {
		h := &a.holds[i]
		t.reader[i] = h.readers.PushBack(t)
		h.reading += t.charged
	}
}

// stopReadingLocked makes t a request past reading.
func (a *admission) stopReadingLocked(t *ticket) {
	for i := range t.holdings() {
		h := &a.holds[i]
		if t.reader[i] != nil {
			h.readers.Remove(t.reader[i])
			t.reader[i] = nil
			h.reading -= t.charged
		}
	}
}

// holdLocked adds n bytes (negative: frees them) to what t holds.
func (a *admission) holdLocked(t *ticket, n int64) {
	t.charged += n
	for i := range t.holdings() {
		h := &a.holds[i]
		h.inFlight += n
		if t.reader[i] != nil {
			h.reading += n
		}
	}
	a.peak = max(a.peak, a.holds[0].inFlight)
}
