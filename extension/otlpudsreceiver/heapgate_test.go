package otlpudsreceiver

import (
	"context"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHeap replaces the admission's heap reading.
func fakeHeap(a *admission, mib uint64) *atomic.Uint64 {
	var h atomic.Uint64
	h.Store(mib << 20)
	a.readHeap = h.Load
	return &h
}

// learnLevel has the pipeline refuse one request of the traces line and
// then take its paced offer with the heap at mib: the line's level.
func learnLevel(t *testing.T, a *admission, heap *atomic.Uint64, mib uint64) {
	t.Helper()
	heap.Store(mib << 20)
	tk := a.newTicket(time.Now())
	head, why := tk.lineUp(signalTraces, 10, true)
	require.Equal(t, refusalNone, why)
	require.Equal(t, refusalNone, tk.awaitTurn(context.Background(), head))
	tk.offered(head, true)
	tk.leaveLine(head)
	tk.done()
}

// heldByGate reports whether a request arriving now with nobody waiting
// lines up rather than going to the pipeline at once.
func heldByGate(t *testing.T, a *admission) bool {
	t.Helper()
	tk := a.newTicket(time.Now())
	defer tk.done()
	place, why := tk.lineUp(signalTraces, 10, false)
	require.Equal(t, refusalNone, why)
	if place == nil {
		return false
	}
	tk.leaveLine(place)
	return true
}

// While the pipeline refuses, a request arriving with the heap at or above
// the level of the pipeline's last paced acceptance lines up instead of
// going in at once; below it, or gateHold after the last refusal, or
// before any level was learned, it goes in at once.
func TestHeapGateHoldsArrivalsAboveTheLearnedLevel(t *testing.T) {
	a, tt := newTestAdmission(t, 0, 1000)
	heap := fakeHeap(a, 80)
	assert.False(t, heldByGate(t, a), "nothing learned: no gate")

	learnLevel(t, a, heap, 48)
	heap.Store(60 << 20)
	assert.True(t, heldByGate(t, a), "refused just now, heap above the level")
	heap.Store(40 << 20)
	assert.False(t, heldByGate(t, a), "below the level")

	heap.Store(60 << 20)
	a.mu.Lock()
	a.lines[signalTraces].lastRefused = time.Now().Add(-gateHold)
	a.mu.Unlock()
	assert.False(t, heldByGate(t, a), "no refusal for gateHold: the gate is open")

	other := a.newTicket(time.Now())
	p, why := other.lineUp(signalLogs, 10, false)
	assert.Nil(t, p, "another signal's line learned nothing")
	assert.Equal(t, refusalNone, why)
	other.done()
	assert.Equal(t, int64(1), counter(t, tt, gateHeldMetric, "", ""), "one request held by the gate; the refused one taught the level")
}

const gateHeldMetric = "otelcol_otlpuds_admission_gate_held"

// The level follows the heap at which paced offers were taken, a quarter of
// the way at each, so one outlier neither sets it nor stays in it; offers
// taken at once, after the head before them, teach nothing (their heap is
// what the rush between two checks of memory_limiter left).
func TestHeapGateLearnsOnlyFromPacedOffers(t *testing.T) {
	a, _ := newTestAdmission(t, 0, 1000)
	heap := fakeHeap(a, 0)
	ctx := context.Background()
	learnLevel(t, a, heap, 48)
	learnLevel(t, a, heap, 40)
	a.mu.Lock()
	assert.Equal(t, uint64(46)<<20, a.lines[signalTraces].heapLevel, "a quarter of the way from 48 to 40: neither the highest nor the last")
	a.mu.Unlock()

	// A head taken at a paced offer (heap 30: the level moves to 42), then
	// the one behind it offered at once with the heap below the level, and
	// taken when the heap has grown past it.
	heap.Store(30 << 20)
	first, second := a.newTicket(time.Now()), a.newTicket(time.Now())
	head, _ := first.lineUp(signalTraces, 10, true)
	behind, _ := second.lineUp(signalTraces, 10, false)
	require.NotNil(t, behind)
	require.Equal(t, refusalNone, first.awaitTurn(ctx, head))
	first.offered(head, true)
	first.leaveLine(head)
	require.Equal(t, refusalNone, second.awaitTurn(ctx, behind))
	heap.Store(100 << 20)
	second.offered(behind, true)
	second.leaveLine(behind)
	first.done()
	second.done()
	a.mu.Lock()
	assert.Equal(t, uint64(42)<<20, a.lines[signalTraces].heapLevel, "an offer at once teaches nothing")
	a.mu.Unlock()
}

// After the head is taken, the next in line goes at once only while the
// heap is below the level; at or above it, it waits retryInterval, as
// after a refusal.
func TestHeapGatePacesTheLineAboveTheLevel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mib    uint64
		atOnce bool
	}{{"below the level", 40, true}, {"at the level", 48, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, tt := newTestAdmission(t, 0, 1000)
			heap := fakeHeap(a, 0)
			ctx := context.Background()
			learnLevel(t, a, heap, 48)

			heap.Store(30 << 20)
			first, second := a.newTicket(time.Now()), a.newTicket(time.Now())
			head, _ := first.lineUp(signalTraces, 10, true)
			behind, _ := second.lineUp(signalTraces, 10, false)
			require.Equal(t, refusalNone, first.awaitTurn(ctx, head))
			first.offered(head, true)
			heap.Store(tc.mib << 20)
			taken := time.Now()
			first.leaveLine(head)
			require.Equal(t, refusalNone, second.awaitTurn(ctx, behind))
			waited := time.Since(taken)
			if tc.atOnce {
				assert.Less(t, waited, retryInterval, "offered at once")
			} else {
				assert.GreaterOrEqual(t, waited, retryInterval-5*time.Millisecond, "paced")
			}
			second.offered(behind, true)
			second.leaveLine(behind)
			first.done()
			second.done()
			held := int64(1)
			if tc.atOnce {
				held = 0
			}
			assert.Equal(t, held, counter(t, tt, gateHeldMetric, "", ""), "the one behind the head, paced by the gate")
		})
	}
}

// Through the socket: once the pipeline refused and took a paced offer, a
// request arriving with the heap above that level waits its paced offer,
// then is delivered once and answered 200; the wait is counted like any
// other wait for the pipeline, and as held by the gate.
func TestHeapGateHeldRequestIsDeliveredOnce(t *testing.T) {
	cfg := testConfig(t)
	c := &refusingTraces{refusals: 1}
	r := startReceiver(t, cfg, consumers{traces: c})
	a := admissionOf(r)
	heap := fakeHeap(a, 48)

	got := recv(t, postAsync(context.Background(), r.client, namedTracesBody(t, "refused-once"), ctHeader(encodingProtobuf)))
	require.NoError(t, got.err)
	require.Equal(t, http.StatusOK, got.code, got.body)
	require.Equal(t, int64(2), c.offers.Load(), "refused, then taken on its paced offer")

	heap.Store(64 << 20)
	got = recv(t, postAsync(context.Background(), r.client, namedTracesBody(t, "held"), ctHeader(encodingProtobuf)))
	require.NoError(t, got.err)
	require.Equal(t, http.StatusOK, got.code, got.body)
	assert.Equal(t, int64(3), c.offers.Load(), "held without an offer, then one offer")
	assert.Len(t, c.sink.AllTraces(), 2)
	assert.Equal(t, int64(2), counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "pipeline"))
	assert.Equal(t, int64(1), counter(t, r.tt, gateHeldMetric, "", ""), "the refused request waited for the pipeline, not the gate")
	assert.Equal(t, int64(2), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	requireIdle(t, r)
}

// The gate reads the heap memory_limiter judges: a metric name this Go
// does not know would read 0 and leave the gate open for good.
func TestHeapObjectsReadsTheHeap(t *testing.T) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	got := heapObjects()
	assert.NotZero(t, got)
	assert.InDelta(t, float64(ms.HeapAlloc), float64(got), float64(ms.HeapAlloc)/2, "MemStats.HeapAlloc %d, read %d", ms.HeapAlloc, got)
}
