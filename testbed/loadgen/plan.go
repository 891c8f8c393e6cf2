package loadgen

import (
	"crypto/rand"
	"encoding/binary"
)

// spanSpec is the identity of one span to send: its IDs and its parent.
type spanSpec struct {
	traceID  [16]byte
	spanID   [8]byte
	parentID [8]byte // zero for a root
	root     bool
	lifetime bool // the root of a lifecycle trace
}

// planner decides, span after span, what is sent: ordinary traces (children
// first, root last) interleaved with lifecycle traces (handler subtrees, root
// last of all), in proportion to their sizes. It is used by one goroutine.
type planner struct {
	shape TraceShape
	salt  uint64 // makes IDs unique across runs and restarts
	next  uint64 // ID counter

	// ordinary trace in progress
	ordTrace [16]byte
	ordRoot  [8]byte
	ordLeft  int // spans still to send of the current trace, root included
	ordSpans int64
	ordTotal int64 // 0: unbounded

	// lifecycle traces, sent one after the other
	lcIndex   int
	lcTrace   [16]byte
	lcRoot    [8]byte
	lcSent    int // spans of the current lifecycle trace sent
	lcHandler [8]byte
	lcInGroup int // spans of the current handler subtree still to send
	lcSpans   int64
	lcTotal   int64
}

func newPlanner(shape TraceShape) *planner {
	salt := mix(shape.IDSeed)
	if shape.IDSeed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		salt = binary.BigEndian.Uint64(b[:])
	}
	p := &planner{shape: shape, salt: salt | 1}
	if shape.Traces > 0 {
		p.ordTotal = int64(shape.Traces) * int64(shape.SpansPerTrace)
	}
	if shape.Lifecycle.Traces > 0 {
		p.lcTotal = int64(shape.Lifecycle.Traces) * int64(shape.Lifecycle.SpansPerTrace)
		p.lcIndex = -1
	}
	return p
}

// total is the number of spans the plan holds; 0 when unbounded.
func (p *planner) total() int64 {
	if p.shape.Traces == 0 {
		return 0
	}
	return p.ordTotal + p.lcTotal
}

// done reports whether every planned span was sent.
func (p *planner) done() bool {
	return p.shape.Traces > 0 && p.ordSpans >= p.ordTotal && p.lcSpans >= p.lcTotal
}

// mix spreads a seed over 64 bits (splitmix64's finaliser): IDs are the
// counter xor the salt, so salts that differ in a few low bits, like
// seeds 1 and 2, would give two generators the same IDs in another order.
func mix(seed uint64) uint64 {
	seed += 0x9E3779B97F4A7C15
	seed = (seed ^ seed>>30) * 0xBF58476D1CE4E5B9
	seed = (seed ^ seed>>27) * 0x94D049BB133111EB
	return seed ^ seed>>31
}

func (p *planner) id() uint64 {
	p.next++
	// A multiplicative hash keeps IDs spread over the whole range while
	// staying unique (odd multiplier, bijective on uint64).
	return (p.next ^ p.salt) * 0x9E3779B97F4A7C15
}

func (p *planner) newSpanID() (s [8]byte) {
	v := p.id()
	if v == 0 {
		v = 1
	}
	binary.BigEndian.PutUint64(s[:], v)
	return s
}

func (p *planner) newTraceID() (t [16]byte) {
	binary.BigEndian.PutUint64(t[:8], p.salt)
	binary.BigEndian.PutUint64(t[8:], p.id())
	return t
}

// fill plans up to len(out) spans and returns how many it planned (fewer only
// when the plan is exhausted).
func (p *planner) fill(out []spanSpec) int {
	n := 0
	for n < len(out) && !p.done() {
		if p.pickLifecycle() {
			out[n] = p.nextLifecycle()
		} else {
			out[n] = p.nextOrdinary()
		}
		n++
	}
	return n
}

// pickLifecycle keeps lifecycle and ordinary spans in proportion to their
// planned totals; with unbounded ordinary traces, it alternates them until
// the lifecycle traces are done.
func (p *planner) pickLifecycle() bool {
	if p.lcSpans >= p.lcTotal {
		return false
	}
	if p.ordTotal == 0 {
		return p.lcSpans <= p.ordSpans
	}
	if p.ordSpans >= p.ordTotal {
		return true
	}
	return p.lcSpans*p.ordTotal <= p.ordSpans*p.lcTotal
}

func (p *planner) nextOrdinary() spanSpec {
	if p.ordLeft == 0 {
		p.ordTrace = p.newTraceID()
		p.ordRoot = p.newSpanID()
		p.ordLeft = p.shape.SpansPerTrace
	}
	p.ordLeft--
	p.ordSpans++
	if p.ordLeft == 0 {
		return spanSpec{traceID: p.ordTrace, spanID: p.ordRoot, root: true}
	}
	return spanSpec{traceID: p.ordTrace, spanID: p.newSpanID(), parentID: p.ordRoot}
}

func (p *planner) nextLifecycle() spanSpec {
	lc := p.shape.Lifecycle
	if p.lcIndex < 0 || p.lcSent >= lc.SpansPerTrace {
		p.lcIndex++
		p.lcTrace = p.newTraceID()
		p.lcRoot = p.newSpanID()
		p.lcSent = 0
		p.lcInGroup = 0
	}
	p.lcSent++
	p.lcSpans++
	left := lc.SpansPerTrace - p.lcSent // spans after this one
	if left == 0 {
		return spanSpec{traceID: p.lcTrace, spanID: p.lcRoot, root: true, lifetime: true}
	}
	if p.lcInGroup == 0 {
		// Open a handler subtree: its children first, then the handler.
		p.lcHandler = p.newSpanID()
		p.lcInGroup = min(lc.HandlerSpans, left)
	}
	p.lcInGroup--
	if p.lcInGroup == 0 {
		return spanSpec{traceID: p.lcTrace, spanID: p.lcHandler, parentID: p.lcRoot}
	}
	return spanSpec{traceID: p.lcTrace, spanID: p.newSpanID(), parentID: p.lcHandler}
}
