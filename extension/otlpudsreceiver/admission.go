package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

const (
	// defaultRequestLimitMiB is the default budget of bytes in flight, as
	// the otelarrow receiver's admission::request_limit_mib.
	defaultRequestLimitMiB = 128
	// defaultWaitingLimitMiB is the default size of the waiting room, as
	// the otelarrow receiver's admission::waiting_limit_mib. Requests that
	// wait for the pipeline hold their decoded data, several times their
	// body, while memory_limiter says memory is short: the room stays small.
	defaultWaitingLimitMiB = 32
	// defaultMaxWait is below the 10 s timeout common in OTLP clients, so
	// the answer after the longest wait still reaches the client.
	defaultMaxWait = 5 * time.Second
	// maxLimitMiB keeps the limits' byte counts far from overflowing.
	maxLimitMiB = 1 << 20

	// retryInterval is the time between two offers of the request at the
	// head of a line (the only one offered while the pipeline refuses).
	// memory_limiter changes its mind only at its check_interval (100 ms
	// to 1 s in practice), and an opening lasts at least one interval: one
	// offer every 50 ms finds each opening within 50 ms, however short the
	// interval, at the cost of at most 20 refused offers a second per
	// signal (a few microseconds each), whatever the number waiting.
	retryInterval = 50 * time.Millisecond

	// maxGCAfter bounds how long the pipeline may refuse the head of a
	// line, with no garbage collection meanwhile, before the admission
	// runs one (collectIfStale); a fifth of max_wait when that is shorter.
	maxGCAfter = time.Second
)

// Decoder allowances: memory a decompressor holds besides the decoded body,
// charged at admission by Content-Encoding.
const (
	// flateAllowance covers gzip, zlib and deflate readers (32 KiB window
	// and Huffman tables).
	flateAllowance = 64 << 10
	// snappyFramedAllowance covers the framed snappy reader (64 KiB chunk
	// buffers, compressed and decoded).
	snappyFramedAllowance = 160 << 10
	// lz4Allowance covers the lz4 frame reader: buffers of the largest
	// block size the lz4 frame format has (4 MiB), compressed and decoded.
	lz4Allowance = 8 << 20
	// zstdMinWindow and zstdMaxWindow mirror confighttp v1.71.0's bound on
	// the window a zstd frame may make its decoder allocate:
	// max(8 MiB, max_request_body_size), at most 512 MiB.
	zstdMinWindow = 8 << 20
	zstdMaxWindow = 512 << 20
	// zstdBlockSlack is the zstd decoder's room for blocks beyond its
	// window (two blocks of at most 128 KiB, and copy overrun).
	zstdBlockSlack = 512 << 10
)

// AdmissionConfig bounds the memory requests hold and lets a request the
// pipeline refuses for now wait for it rather than be answered 503 at once.
type AdmissionConfig struct {
	// RequestLimitMiB is the budget of bytes in flight: what every admitted
	// request is charged, from before its body is read (and decompressed)
	// until it is answered. A request that does not fit waits for room.
	// A request over the budget by itself is admitted when nothing else is
	// in flight. Default 128; 0 means no budget.
	RequestLimitMiB int64 `mapstructure:"request_limit_mib"`

	// WaitingLimitMiB is the waiting room: the bytes of requests waiting at
	// once, for room under request_limit_mib (counted at their
	// Content-Length) or for the pipeline (counted at their decoded body).
	// A request that would not fit in the room is answered 503 at once.
	// Default 32; 0 means nothing waits.
	WaitingLimitMiB int64 `mapstructure:"waiting_limit_mib"`

	// MaxWait is the longest a request waits, from its arrival, all waits
	// together; then it is answered 503 with Retry-After. Default 5s, below
	// the 10 s timeout common in OTLP clients; 0 means nothing waits.
	MaxWait time.Duration `mapstructure:"max_wait"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func defaultAdmissionConfig() AdmissionConfig {
	return AdmissionConfig{
		RequestLimitMiB: defaultRequestLimitMiB,
		WaitingLimitMiB: defaultWaitingLimitMiB,
		MaxWait:         defaultMaxWait,
	}
}

// validate checks the admission keys; the server's timeouts must leave
// time to answer after the longest wait.
func (c AdmissionConfig) validate(server confighttp.ServerConfig) error {
	for _, k := range []struct {
		name string
		v    int64
	}{{"request_limit_mib", c.RequestLimitMiB}, {"waiting_limit_mib", c.WaitingLimitMiB}} {
		if k.v < 0 {
			return fmt.Errorf("admission::%s: must not be negative, got %d", k.name, k.v)
		}
		if k.v > maxLimitMiB {
			return fmt.Errorf("admission::%s: at most %d (1 TiB), got %d", k.name, maxLimitMiB, k.v)
		}
	}
	if c.MaxWait < 0 {
		return fmt.Errorf("admission::max_wait: must not be negative, got %s", c.MaxWait)
	}
	if c.MaxWait > 0 {
		// A request waits before its body is read and before it is
		// answered: both deadlines run from its arrival.
		if t := server.WriteTimeout; t > 0 && c.MaxWait >= t {
			return fmt.Errorf("admission::max_wait: must be shorter than write_timeout (%s), or the answer after waiting cannot be written; got %s", t, c.MaxWait)
		}
		if t := server.ReadTimeout; t > 0 && c.MaxWait >= t {
			return fmt.Errorf("admission::max_wait: must be shorter than read_timeout (%s), or the body cannot be read after waiting; got %s", t, c.MaxWait)
		}
	}
	return nil
}

// waitKind is what a request waits for.
type waitKind int

const (
	// waitRequestLimit: room under request_limit_mib, to be admitted or
	// for its body to grow while read.
	waitRequestLimit waitKind = iota
	// waitPipeline: the pipeline to take its data after a retryable
	// refusal.
	waitPipeline
	numWaitKinds
)

func (k waitKind) String() string {
	if k == waitPipeline {
		return "pipeline"
	}
	return "request_limit"
}

// refusal is why a request was not admitted (or left while waiting).
type refusal int

const (
	refusalNone refusal = iota
	refusalTimeout
	refusalRoomFull
	refusalShutdown
	refusalClientGone
	numRefusals
)

func (r refusal) String() string {
	switch r {
	case refusalTimeout:
		return "timeout"
	case refusalRoomFull:
		return "waiting_room_full"
	case refusalShutdown:
		return "shutdown"
	case refusalClientGone:
		return "client_gone"
	default:
		return "none"
	}
}

// admissionTelemetry holds the instruments and their attribute sets.
type admissionTelemetry struct {
	tb      *metadata.TelemetryBuilder
	wait    [numWaitKinds]metric.MeasurementOption
	refused [numWaitKinds][numRefusals]metric.MeasurementOption
}

func newAdmissionTelemetry(tb *metadata.TelemetryBuilder) *admissionTelemetry {
	t := &admissionTelemetry{tb: tb}
	for k := range numWaitKinds {
		wait := attribute.String("wait", k.String())
		t.wait[k] = metric.WithAttributeSet(attribute.NewSet(wait))
		for r := range numRefusals {
			t.refused[k][r] = metric.WithAttributeSet(attribute.NewSet(wait, attribute.String("reason", r.String())))
		}
		// The gauges read 0 from the start, not only after the first wait:
		// a dashboard or alert on them sees idle, not no data.
		tb.OtlpudsAdmissionWaiting.Add(context.Background(), 0, t.wait[k])
	}
	tb.OtlpudsAdmissionWaitingBytes.Add(context.Background(), 0)
	tb.OtlpudsAdmissionInFlightBytes.Add(context.Background(), 0)
	return t
}

// admission is the receiver's admission control: a budget of bytes in
// flight, handed out in arrival order, and a waiting room shared by the
// requests waiting for room and those waiting for the pipeline.
type admission struct {
	roomLimit int64 // bytes waiting; 0: nothing waits
	maxWait   time.Duration
	tel       *admissionTelemetry

	mu sync.Mutex
	// holds are the bytes in flight: the budget (request_limit_mib, 0: no
	// budget) and the share of bodies of unknown size (admissionrule.go).
	holds     [numHoldings]holding
	peak      int64 // highest bytes in flight seen (tests read it)
	roomBytes int64
	// growing holds the waiters for more room for a body being read, in
	// arrival order; admitQ the requests waiting to be admitted. Who goes
	// first is dispatchLocked's rule.
	growing  list.List
	admitQ   list.List
	stopping bool
	stop     chan struct{} // closed at shutdown

	// lines hold the requests waiting for each signal's pipeline, in the
	// order they joined.
	lines [numSignals]line

	// Garbage collection while the pipeline refuses (collectIfStale).
	gcAfter    time.Duration
	gcCycles   uint64    // the runtime's completed cycles, as last read
	gcSeen     time.Time // when they last changed, or one was run here
	collecting bool
	runGC      func()        // runtime.GC; tests replace it
	readCycles func() uint64 // the runtime's completed cycles
	readHeap   func() uint64 // heapObjects; tests replace it (heapgate.go)
}

func newAdmission(cfg AdmissionConfig, tb *metadata.TelemetryBuilder) *admission {
	a := &admission{
		roomLimit: cfg.WaitingLimitMiB << 20,
		maxWait:   cfg.MaxWait,
		tel:       newAdmissionTelemetry(tb),
		stop:      make(chan struct{}),
		// At least one offer of the head between two collections.
		gcAfter:    min(maxGCAfter, max(cfg.MaxWait/5, 2*retryInterval)),
		gcSeen:     time.Now(),
		runGC:      runtime.GC,
		readCycles: gcCycles,
		readHeap:   heapObjects,
	}
	a.setLimit(cfg.RequestLimitMiB << 20)
	return a
}

// gcCycles is how many garbage collection cycles the runtime completed.
func gcCycles() uint64 { return runtimeCount("/gc/cycles/total:gc-cycles") }

// runtimeCount reads one of the runtime's integer metrics (0 should this
// Go not have it), without stopping the world.
func runtimeCount(name string) uint64 {
	s := [1]metrics.Sample{{Name: name}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// waiter is a request waiting for n bytes of room.
type waiter struct {
	t       *ticket
	n       int64
	ready   chan struct{} // closed when granted
	granted bool
	elem    *list.Element
}

// ticket is one request's admission: what it is charged and how long it
// may still wait. A nil ticket charges nothing and never waits.
type ticket struct {
	a        *admission
	deadline time.Time

	// Guarded by a.mu.
	charged   int64 // all the request is charged for, in flight
	body      int64 // the part of charged the body may fill
	transient int64 // the part of charged freed when the body is read
	// kind says whether the body's size is known (admissionrule.go).
	kind requestKind
	// reader is the request's place among the readers of each holding it
	// is charged to, nil past reading.
	reader [numHoldings]*list.Element

	// clock bounds the time the body takes to arrive; waits for room
	// push it back. nil when read_body_timeout is 0.
	clock *bodyClock
	// tooLarge: the body declared a decoded size over
	// max_request_body_size (bodyEstimate.tooLarge); it is never read.
	tooLarge bool

	waited  [numWaitKinds]time.Duration
	didWait [numWaitKinds]bool
}

// newTicket starts the admission of a request arriving now.
func (a *admission) newTicket(now time.Time) *ticket {
	return &ticket{a: a, deadline: now.Add(a.maxWait)}
}

// mayWaitLocked says why a request carrying n bytes may not wait, if so:
// its time is up (or max_wait is 0), or the waiting room (of
// waiting_limit_mib, maybe 0) has no room for it.
func (a *admission) mayWaitLocked(t *ticket, n int64) refusal {
	if a.stopping {
		return refusalShutdown
	}
	if a.maxWait == 0 || !time.Now().Before(t.deadline) {
		return refusalTimeout
	}
	if a.roomLimit == 0 || a.roomBytes+n > a.roomLimit {
		return refusalRoomFull
	}
	return refusalNone
}

func (a *admission) chargeLocked(t *ticket, n int64) {
	if n == 0 {
		return
	}
	a.holdLocked(t, n)
	a.tel.tb.OtlpudsAdmissionInFlightBytes.Add(context.Background(), n)
}

func (a *admission) releaseLocked(t *ticket, n int64) {
	n = min(n, t.charged)
	if n <= 0 {
		return
	}
	a.holdLocked(t, -n)
	a.tel.tb.OtlpudsAdmissionInFlightBytes.Add(context.Background(), -n)
}

func (a *admission) enterRoomLocked(k waitKind, bytes int64) {
	a.roomBytes += bytes
	a.tel.tb.OtlpudsAdmissionWaiting.Add(context.Background(), 1, a.tel.wait[k])
	if bytes != 0 {
		a.tel.tb.OtlpudsAdmissionWaitingBytes.Add(context.Background(), bytes)
	}
}

func (a *admission) leaveRoomLocked(k waitKind, bytes int64) {
	a.roomBytes -= bytes
	a.tel.tb.OtlpudsAdmissionWaiting.Add(context.Background(), -1, a.tel.wait[k])
	if bytes != 0 {
		a.tel.tb.OtlpudsAdmissionWaitingBytes.Add(context.Background(), -bytes)
	}
}

// refused counts a request not admitted.
func (a *admission) refused(k waitKind, r refusal) {
	a.tel.tb.OtlpudsAdmissionRefused.Add(context.Background(), 1, a.tel.refused[k][r])
}

// grantLocked gives a waiter its room.
func (a *admission) grantLocked(w *waiter) {
	a.chargeLocked(w.t, w.n)
	w.granted = true
	close(w.ready)
}

// await blocks until w is granted, the request's context ends (the client
// disconnected), its deadline passes or the receiver shuts down.
func (a *admission) await(ctx context.Context, w *waiter) refusal {
	timer := time.NewTimer(time.Until(w.t.deadline))
	defer timer.Stop()
	select {
	case <-w.ready:
		return refusalNone
	case <-ctx.Done():
		return refusalClientGone
	case <-timer.C:
		return refusalTimeout
	case <-a.stop:
		return refusalShutdown
	}
}

// requestLocked queues a waiter for n bytes of room for t on q and lets
// dispatchLocked decide: granted at once, or it waits for its room, the
// request holding waitBytes of the waiting room meanwhile, unless it may
// not wait (mayWaitLocked). Called with a.mu held; returns with it
// released.
func (a *admission) requestLocked(ctx context.Context, q *list.List, t *ticket, n, waitBytes int64) refusal {
	w := &waiter{t: t, n: n, ready: make(chan struct{})}
	w.elem = q.PushBack(w)
	a.dispatchLocked()
	if w.granted {
		a.mu.Unlock()
		return refusalNone
	}
	if why := a.mayWaitLocked(t, waitBytes); why != refusalNone {
		// Last in its queue: nobody waited behind it.
		q.Remove(w.elem)
		a.mu.Unlock()
		return why
	}
	a.enterRoomLocked(waitRequestLimit, waitBytes)
	a.mu.Unlock()

	start := time.Now()
	why := a.await(ctx, w)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaveRoomLocked(waitRequestLimit, waitBytes)
	waited := time.Since(start)
	t.waited[waitRequestLimit] += waited
	// The body's time to arrive does not count the wait for room.
	t.clock.pushBack(waited)
	t.didWait[waitRequestLimit] = true
	if w.granted {
		// Granted as the wait ended otherwise: take it.
		return refusalNone
	}
	q.Remove(w.elem)
	// Leaving the queue may let those behind go.
	a.dispatchLocked()
	return why
}

// admit admits a request before its body is read, charging it
// allowance+body bytes, of which transient are freed once the body is
// read. waitBytes is what it holds of the waiting room if it must wait.
// t.kind must be set before.
func (t *ticket) admit(ctx context.Context, allowance, transient, body, waitBytes int64) refusal {
	a := t.a
	n := allowance + body
	a.mu.Lock()
	t.body = body
	t.transient = transient
	if n == 0 {
		a.startReadingLocked(t)
		a.mu.Unlock()
		return refusalNone
	}
	return a.requestLocked(ctx, &a.admitQ, t, n, waitBytes)
}

// growBody makes the body's charge at least size bytes, waiting for room
// if need be (dispatchLocked's rule).
func (t *ticket) growBody(ctx context.Context, size int64) refusal {
	if t == nil {
		return refusalNone
	}
	a := t.a
	a.mu.Lock()
	n := size - t.body
	if n <= 0 {
		a.mu.Unlock()
		return refusalNone
	}
	t.body = size
	return a.requestLocked(ctx, &a.growing, t, n, 0)
}

// bodyRoom is how many body bytes the ticket allows; -1 for no ticket.
func (t *ticket) bodyRoom() int64 {
	if t == nil {
		return -1
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	return t.body
}

// bodyRead settles the charge once the body is read and decoded: what the
// decompressor needed while reading is freed, and the body, read into a
// buffer of up to t.body bytes, is charged at its size: the decoded data
// the request now holds is counted by it.
func (t *ticket) bodyRead(size int64) {
	if t == nil {
		return
	}
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(t, t.transient+max(t.body-size, 0))
	t.transient = 0
	t.body = size
	a.stopReadingLocked(t)
	a.dispatchLocked()
}

// done frees everything the request holds and records its waits.
func (t *ticket) done() {
	if t == nil {
		return
	}
	a := t.a
	a.mu.Lock()
	a.releaseLocked(t, t.charged)
	a.stopReadingLocked(t)
	a.dispatchLocked()
	a.mu.Unlock()
	for k := range numWaitKinds {
		if t.didWait[k] {
			a.tel.tb.OtlpudsAdmissionWaited.Add(context.Background(), 1, a.tel.wait[k])
			a.tel.tb.OtlpudsAdmissionWaitTime.Record(context.Background(), t.waited[k].Seconds(), a.tel.wait[k])
		}
	}
}

// signalKind is the signal of a request: each signal's pipeline refuses
// on its own, so each has its own line.
type signalKind int

const (
	signalTraces signalKind = iota
	signalMetrics
	signalLogs
	numSignals
)

// line is the requests waiting for one signal's pipeline, oldest first.
// Only its head is offered to the pipeline; the others wait for their turn,
// so the pipeline's openings go to the requests in the order they came and
// none waits much longer than the others.
type line struct {
	waiters list.List // of *inLine
	// lastOffer is when the line last offered data to the pipeline, and
	// moved whether the pipeline then took it (or refused it for good):
	// the next head offers at once, else retryInterval after lastOffer.
	lastOffer time.Time
	moved     bool
	// refusedSince is when the pipeline began refusing the line's heads
	// without taking any in between.
	refusedSince time.Time
	// lastRefused is when the pipeline last refused a request of the line,
	// and heapLevel the heap at which it takes paced offers, smoothed: the
	// heap gate's state (heapgate.go).
	lastRefused time.Time
	heapLevel   uint64
}

// inLine is a request's place in a line.
type inLine struct {
	t     *ticket
	kind  signalKind
	size  int64 // its decoded body, held in the waiting room
	start time.Time
	elem  *list.Element
	turn  chan struct{} // closed when it becomes the head
	// heapAtOffer is the heap read when its offer came due retryInterval
	// after the line's previous one (a paced offer), 0 for an offer made
	// at once.
	heapAtOffer uint64
	// gateHeld is set when the heap gate made it wait for a paced offer
	// (heapgate.go), for otlpuds_admission_gate_held.
	gateHeld bool
}

// lineUp takes a place at the back of the line for the pipeline of kind k,
// holding the request's decoded body of size bytes in the waiting room.
// A request that has not been offered yet (refused false) goes to the
// pipeline at once when nobody waits for it: lineUp returns nil and
// refusalNone. A request the pipeline refused (refused true), or one that
// finds others waiting, lines up; nil and the reason when it may not wait
// (its time is up, the waiting room is full, or the receiver is shutting
// down).
func (t *ticket) lineUp(k signalKind, size int64, refused bool) (*inLine, refusal) {
	if t == nil {
		if refused {
			return nil, refusalRoomFull
		}
		return nil, refusalNone
	}
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	l := &a.lines[k]
	now := time.Now()
	if refused {
		l.lastRefused = now
	} else if l.waiters.Len() == 0 && !a.gateClosedLocked(l, now) {
		return nil, refusalNone
	}
	if why := a.mayWaitLocked(t, size); why != refusalNone {
		return nil, why
	}
	w := &inLine{t: t, kind: k, size: size, start: now, turn: make(chan struct{})}
	// Not refused, nobody waiting: here because the gate is closed.
	w.gateHeld = !refused && l.waiters.Len() == 0
	if l.waiters.Len() == 0 {
		// The first in line was refused just now, or held by the heap
		// gate: its first offer is paced.
		l.lastOffer, l.moved = now, false
		if refused {
			l.refusedSince = now
		}
	}
	w.elem = l.waiters.PushBack(w)
	a.enterRoomLocked(waitPipeline, size)
	t.didWait[waitPipeline] = true
	return w, refusalNone
}

// awaitTurn waits until w is at the head of its line and its offer is due:
// at once when the pipeline just took the data of the request before it,
// else retryInterval after the line's last offer. The head's wait cut short
// by the deadline ends in one more offer; a request behind it whose time
// runs out leaves without one. It stops early when the client disconnects
// or the receiver shuts down.
func (t *ticket) awaitTurn(ctx context.Context, w *inLine) refusal {
	a := t.a
	deadline := time.NewTimer(time.Until(t.deadline))
	defer deadline.Stop()
	for {
		a.mu.Lock()
		l := &a.lines[w.kind]
		head := l.waiters.Front() == w.elem
		due := l.lastOffer.Add(retryInterval)
		gated := head && l.moved && a.gateClosedLocked(l, time.Now())
		atOnce := head && l.moved && !gated
		w.gateHeld = w.gateHeld || gated
		if atOnce {
			due = time.Time{}
		}
		a.mu.Unlock()
		if !head {
			select {
			case <-w.turn:
				continue
			case <-deadline.C:
				return refusalTimeout
			case <-ctx.Done():
				return refusalClientGone
			case <-a.stop:
				return refusalShutdown
			}
		}
		d := time.Until(due)
		if left := time.Until(t.deadline); left < d {
			d = left
		}
		if d <= 0 {
			if !atOnce {
				w.heapAtOffer = a.readHeap()
			}
			return refusalNone
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
			w.heapAtOffer = a.readHeap()
			return refusalNone
		case <-ctx.Done():
			timer.Stop()
			return refusalClientGone
		case <-a.stop:
			timer.Stop()
			return refusalShutdown
		}
	}
}

// offered records the head's offer: moved is true when the pipeline took
// its data (or refused it for good), so the next in line goes at once.
// After a refusal it may run a garbage collection (collectIfStale).
func (t *ticket) offered(w *inLine, moved bool) {
	a := t.a
	now := time.Now()
	a.mu.Lock()
	l := &a.lines[w.kind]
	l.lastOffer, l.moved = now, moved
	switch {
	case moved:
		l.refusedSince = time.Time{}
		l.learnLocked(w.heapAtOffer)
	case l.refusedSince.IsZero():
		l.refusedSince = now
	}
	if !moved {
		l.lastRefused = now
	}
	since := l.refusedSince
	a.mu.Unlock()
	if !moved {
		a.collectIfStale(now, since)
	}
}

// collectIfStale runs a garbage collection when the pipeline has refused
// the heads of a line since refusedSince, gcAfter or longer, and the
// runtime has completed no collection for gcAfter either (counting those
// run here). memory_limiter judges the heap with its garbage, and forces a
// collection only past its hard limit or, between its soft and hard limits,
// every min_gc_interval_when_soft_limited (10 s by default). Producers held
// here send nothing new, so nothing allocates, the runtime does not
// collect, and the refusal would outlast max_wait while what the pipeline
// holds drains: in the testbed's bursts the heap was 9 to 13 MiB after the
// collection that ended refusals of 5 to 10 s against a soft limit of
// 48 MiB. A producer refused at once sends again at once, and that
// allocation is what makes memory_limiter collect; waiting takes it away,
// so the admission collects instead: at most once per gcAfter, in the
// head's goroutine, only while a line is refused.
func (a *admission) collectIfStale(now, refusedSince time.Time) {
	cycles := a.readCycles()
	a.mu.Lock()
	if cycles != a.gcCycles {
		a.gcCycles, a.gcSeen = cycles, now
	}
	due := !a.collecting && now.Sub(refusedSince) >= a.gcAfter && now.Sub(a.gcSeen) >= a.gcAfter
	if due {
		a.collecting = true
	}
	a.mu.Unlock()
	if !due {
		return
	}
	a.runGC()
	a.tel.tb.OtlpudsAdmissionCollections.Add(context.Background(), 1)
	a.mu.Lock()
	a.collecting, a.gcSeen = false, time.Now()
	a.mu.Unlock()
}

// leaveLine gives the place back, handing the turn to the next in line.
func (t *ticket) leaveLine(w *inLine) {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	l := &a.lines[w.kind]
	wasHead := l.waiters.Front() == w.elem
	l.waiters.Remove(w.elem)
	a.leaveRoomLocked(waitPipeline, w.size)
	t.waited[waitPipeline] += time.Since(w.start)
	if w.gateHeld {
		a.tel.tb.OtlpudsAdmissionGateHeld.Add(context.Background(), 1)
	}
	if next := l.waiters.Front(); wasHead && next != nil {
		close(next.Value.(*inLine).turn)
	}
}

// inLineNow is how many requests wait in the line of kind k.
func (a *admission) inLineNow(k signalKind) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lines[k].waiters.Len()
}

// shutdown answers every waiting request (503, reason shutdown) and makes
// later requests that do not fit at once, or that the pipeline refuses,
// be answered at once.
func (a *admission) shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopping {
		a.stopping = true
		close(a.stop)
	}
}

// peakInFlight is the highest charge in flight seen so far.
func (a *admission) peakInFlight() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peak
}

type ticketKey struct{}

func withTicket(ctx context.Context, t *ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

func ticketFrom(ctx context.Context) *ticket {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	return t
}

// admissionGate admits each request before anything reads its body:
// confighttp's decompressors allocate their state and the decoded body as
// the body is read, and a snappy block is decoded whole before the signal
// handler runs. It sits inside the peer gate, before confighttp's auth,
// decompression and body limit.
func (r *udsReceiver) admissionGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		t := r.admission.newTicket(now)
		// A copy: net/http decides from the request it holds whether to
		// read what the handler left of the body, and must see its own
		// body there, not the wrappers below.
		req = req.WithContext(withTicket(req.Context(), t))
		// The body's clock runs from here, before anything reads it
		// (estimateBody peeks at a snappy body). A body left unread keeps
		// the deadline: net/http reads what is left of it (up to 256 KiB)
		// after the handler, and a stalled one must not hold the
		// connection then either.
		t.clock = r.startBodyClock(w, now)
		if t.clock != nil && req.Body != nil && req.Body != http.NoBody {
			req.Body = clockedBody{ReadCloser: req.Body, clock: t.clock}
		}
		est := r.estimateBody(req)
		t.tooLarge = est.tooLarge
		t.kind = est.kind
		if why := t.admit(req.Context(), est.allowance, est.transient, est.body, est.waitBytes); why != refusalNone {
			t.done()
			r.refuseBusy(w, req, waitRequestLimit, why)
			return
		}
		defer t.done()
		next.ServeHTTP(w, req)
	})
}

// refuseBusy answers a request admission refused: 503 with Retry-After,
// or nothing when the client is gone.
func (r *udsReceiver) refuseBusy(w http.ResponseWriter, req *http.Request, k waitKind, why refusal) {
	r.admission.refused(k, why)
	if why == refusalClientGone {
		return
	}
	writeFailure(w, answerEncoding(req), r.busyFailure(why))
}

// busyFailure is the 503 answer for a request refused for lack of room.
func (r *udsReceiver) busyFailure(why refusal) failure {
	var msg string
	switch why {
	case refusalTimeout:
		msg = fmt.Sprintf("receiver busy: no room for this request within admission::request_limit_mib (%d MiB) after waiting admission::max_wait (%s)", r.cfg.Admission.RequestLimitMiB, r.cfg.Admission.MaxWait)
	case refusalShutdown:
		msg = "receiver shutting down"
	default:
		msg = fmt.Sprintf("receiver busy: admission::request_limit_mib (%d MiB) in use and waiting room (admission::waiting_limit_mib, %d MiB) full", r.cfg.Admission.RequestLimitMiB, r.cfg.Admission.WaitingLimitMiB)
	}
	return failureFromConsumer(errBusy(msg), r.cfg.RetryAfter)
}

// errBusy is a non-permanent error, answered 503.
type errBusy string

func (e errBusy) Error() string { return string(e) }
