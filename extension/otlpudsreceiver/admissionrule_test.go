package otlpudsreceiver

import (
	"compress/gzip"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// admitted is a request of kind admitted at once, charged body bytes.
func admitted(t *testing.T, a *admission, kind requestKind, body int64) *ticket {
	t.Helper()
	tk := a.newTicket(time.Now())
	tk.kind = kind
	require.Equal(t, refusalNone, tk.admit(context.Background(), 0, 0, body, body))
	return tk
}

// A request of known size is admitted, and its body grows, whenever it
// fits in the budget, whatever bodies of unknown size wait.
func TestAdmissionKnownSizePassesUnknownSizeWaiters(t *testing.T) {
	a, _ := newTestAdmission(t, 100, 1000) // share: 50
	ctx := context.Background()
	bomb := admitted(t, a, unknownSize, 20)
	other := admitted(t, a, unknownSize, 20)
	// The share is spent: the younger body of unknown size waits to grow,
	// a third waits to be admitted.
	otherGrows := inBackground(func() refusal { return other.growBody(ctx, 40) })
	require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
	third := a.newTicket(time.Now())
	third.kind = unknownSize
	thirdDone := inBackground(func() refusal { return third.admit(ctx, 0, 0, 20, 20) })
	require.Eventually(t, func() bool { return waitingNow(a) == 2 }, guard, time.Millisecond)

	plain := admitted(t, a, knownSize, 10) // past both
	require.Equal(t, refusalNone, plain.growBody(ctx, 40), "and grows past them")
	requirePending(t, otherGrows)
	requirePending(t, thirdDone)
	assert.Equal(t, int64(80), a.holds[0].inFlight)
	assert.Equal(t, int64(40), a.holds[1].inFlight)

	bomb.done()
	requireGranted(t, otherGrows)
	requirePending(t, thirdDone) // 40 of the share held, 20 more do not fit
	other.done()
	requireGranted(t, thirdDone)
	third.done()
	plain.done()
	assert.Zero(t, a.holds[0].inFlight)
	assert.Zero(t, a.holds[1].inFlight)
}

// Bodies of unknown size that hold the whole share and all want to grow
// do not wait for one another: the oldest grows past the share (by one
// body at most), the younger waits for it.
func TestAdmissionOldestUnknownSizeReaderOvershootsTheShare(t *testing.T) {
	a, _ := newTestAdmission(t, 100, 1000) // share: 50
	ctx := context.Background()
	plain := admitted(t, a, knownSize, 20)
	first := admitted(t, a, unknownSize, 25)
	second := admitted(t, a, unknownSize, 25)

	secondGrows := inBackground(func() refusal { return second.growBody(ctx, 35) })
	require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
	require.Equal(t, refusalNone, first.growBody(ctx, 45), "the oldest of them goes on: they hold the whole share")
	assert.Equal(t, int64(70), a.holds[1].inFlight)
	requirePending(t, secondGrows)
	first.bodyRead(45)
	// Past reading, it frees the share when answered: the younger waits
	// for that rather than pass the share while it is still held.
	time.Sleep(20 * time.Millisecond)
	requirePending(t, secondGrows)
	first.done()
	requireGranted(t, secondGrows)
	second.done()
	plain.done()
	assert.Zero(t, a.holds[0].inFlight)
	assert.Zero(t, a.holds[1].inFlight)
	assert.Zero(t, a.holds[1].reading)
}

// gzipPrefix is the start of a gzip stream that inflates to n bytes and
// then needs more: a sender that stalls after it.
func gzipPrefix(t *testing.T, n int) []byte {
	t.Helper()
	return gzipped(t, make([]byte, n), (*gzip.Writer).Flush)
}

// Over real sockets: compressed bodies that grew to the share of bodies of
// unknown size and stalled keep the ones after them waiting, and a plain
// request with a Content-Length is admitted and answered past all of them
// without waiting; before the share, it waited behind them until max_wait
// and was answered 503.
func TestPlainRequestPassesStalledCompressedBodies(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServerConfig.MaxRequestBodySize = 4 << 20
	cfg.Admission.RequestLimitMiB = 4 // share: 2 MiB
	cfg.Admission.MaxWait = guard
	cfg.ReadBodyTimeout = guard
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	path := cfg.ServerConfig.NetAddr.Endpoint

	// Each inflates to 768 KiB and stalls. The first holds a 1 MiB buffer
	// and its decoder's allowance; the second grew to 512 KiB and waits to
	// grow, the share being spent; the others wait to be admitted.
	prefix := gzipPrefix(t, 768<<10)
	inFlight := func() int64 { return upDown(t, r.tt, "otelcol_otlpuds_admission_in_flight_bytes", "") }
	waiting := func() int64 { return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "") }
	stall(t, path, len(prefix)+1000, prefix, "gzip")
	require.Eventually(t, func() bool { return inFlight() == 1<<20+flateAllowance }, guard, 5*time.Millisecond)
	const stalled = 5
	for i := 1; i < stalled; i++ {
		stall(t, path, len(prefix)+1000, prefix, "gzip")
		require.Eventually(t, func() bool { return waiting() == int64(i) }, guard, 5*time.Millisecond)
	}
	share := inFlight()
	assert.Equal(t, int64(1<<20+512<<10+2*flateAllowance), share)

	plain := bigTracesBody(t, 512<<10)
	resp, body := post(t, r.client, pathTraces, plain, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, 1, ts.SpanCount())
	assert.Equal(t, share+chunkSize, admissionOf(r).peakInFlight(), "its body held one 1 MiB buffer beside them")
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "request_limit"),
		"the plain request never waited for room")
	assert.Equal(t, int64(stalled-1), waiting(), "the compressed ones still wait")
	require.Eventually(t, func() bool { return inFlight() == share }, guard, 5*time.Millisecond, "the plain request's bytes freed once answered")
}
