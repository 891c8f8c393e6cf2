package otlpudsreceiver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

// issueAnnounced is the body length issue 12's attack announced: 20 MB,
// just under the default max_request_body_size.
const issueAnnounced = 20_000_000

// stall opens a connection whose request announces a body of announced
// bytes (in encoding, "" for none) and sends only sent of it.
func stall(t *testing.T, path string, announced int, sent []byte, encoding string) *rawConn {
	t.Helper()
	c := rawDial(t, path)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: otlpuds\r\nContent-Type: %s\r\nContent-Length: %d\r\n",
		pathTraces, contentTypeProtobuf, announced)
	if encoding != "" {
		head += "Content-Encoding: " + encoding + "\r\n"
	}
	_, err := c.Write(append([]byte(head+"\r\n"), sent...))
	require.NoError(t, err)
	return c
}

// answerOf reads the answer on a stalled connection.
func (c *rawConn) answerOf(t *testing.T) (*http.Response, []byte) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(guard)))
	resp, err := http.ReadResponse(c.br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// answeredWithin returns the answer on a stalled connection if one
// arrives within wait, else nil.
func (c *rawConn) answeredWithin(t *testing.T, wait time.Duration) *http.Response {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	if _, err := c.br.Peek(1); err != nil {
		return nil
	}
	resp, _ := c.answerOf(t)
	return resp
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Issue 12's attack, at a tenth of its size: 200 connections announce a
// 20 MB body and send one byte. Each holds its first buffer, charged to
// the budget as such, not a buffer sized from Content-Length (1 MiB each
// before: 200 MiB); a well-behaved producer is served meanwhile.
func TestStalledBodiesHoldOnlyWhatArrived(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections, cfg.MaxConnectionsPerUID = 0, 0 // every connection held
	cfg.ReadBodyTimeout = guard                         // stalled while measured
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	path := cfg.ServerConfig.NetAddr.Endpoint

	before := heapInUse()
	const n = 200
	for range n {
		stall(t, path, issueAnnounced, []byte{0x0a}, "")
	}
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_in_flight_bytes", "") == n*firstBodyRoom
	}, guard, 5*time.Millisecond, "each stalled body is charged the buffer it holds")
	held := int64(heapInUse()) - int64(before)

	start := time.Now()
	resp, body := post(t, r.client, pathTraces, tracesBody(t, 3, encodingProtobuf), ctHeader(encodingProtobuf))
	took := time.Since(start)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, 3, ts.SpanCount())

	t.Logf("%d stalled bodies: heap in use grew by %d KiB (%d bytes per connection, both ends in this process), %d KiB charged; a producer was answered in %s",
		n, held>>10, held/n, n*firstBodyRoom>>10, took)
	// Their first buffers (800 KiB) and each connection's net/http state;
	// sized from Content-Length they were 200 MiB, and 4 GB announced.
	assert.Less(t, held, int64(32<<20), "held bytes bounded by what arrived, not by connections x Content-Length")
	assert.Less(t, held, cfg.Admission.RequestLimitMiB<<20, "within the budget")
}

// Stalled bodies hold the budget by what they buffered: connections that
// sent 96 KiB each and stalled grow to 128 KiB buffers until the budget is
// spent; the rest wait for room (and are answered 503) rather than hold
// more than the budget.
func TestStalledBodiesStayWithinBudget(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cfg.Admission.MaxWait = 500 * time.Millisecond
	cfg.ReadBodyTimeout = guard
	cons, _, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	path := cfg.ServerConfig.NetAddr.Endpoint

	const n, sent = 16, 96 << 10
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = stall(t, path, issueAnnounced, make([]byte, sent), "")
	}
	// Those that could not grow are answered once max_wait is out: past
	// it, none waits any more.
	time.Sleep(2 * cfg.Admission.MaxWait)
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "") == 0
	}, guard, 5*time.Millisecond)
	peak := admissionOf(r).peakInFlight()
	// Refused growing past max_wait, or, arriving while others wait to
	// grow, finding the waiting room full (it counts a request waiting to
	// be admitted at its Content-Length).
	refused := counter(t, r.tt, "otelcol_otlpuds_admission_refused", "wait", "request_limit")
	t.Logf("%d bodies of %d KiB stalled (%d KiB arrived): peak in flight %d KiB, %d refused (%d past max_wait)",
		n, sent>>10, n*sent>>10, peak>>10, refused, refusedCount(t, r.tt, "request_limit", "timeout"))
	// The oldest reader may take one body past the budget while readers
	// hold all of it; here it holds 128 KiB.
	assert.LessOrEqual(t, peak, int64(1<<20+128<<10))
	assert.LessOrEqual(t, upDown(t, r.tt, "otelcol_otlpuds_admission_in_flight_bytes", ""), int64(1<<20+128<<10))
	require.Positive(t, refused)
	busy := 0
	for _, c := range conns {
		if resp := c.answeredWithin(t, 200*time.Millisecond); resp != nil {
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			busy++
		}
	}
	assert.Equal(t, int(refused), busy, "those refused were answered 503, the rest still hold their buffers")
}

// Bodies that stall are cut after read_body_timeout, plain or compressed
// (a decompressor reading its header is cut too): each is answered 408
// with the connection closed, and counted; a good producer is served
// before, and the budget is free again after.
func TestStalledBodiesCutAfterReadBodyTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReadBodyTimeout = 500 * time.Millisecond
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	path := cfg.ServerConfig.NetAddr.Endpoint

	encodings := []string{"gzip", "zstd", "snappy", "lz4"}
	var conns []*rawConn
	for range 20 {
		conns = append(conns, stall(t, path, issueAnnounced, []byte{0x0a}, ""))
	}
	for _, enc := range encodings {
		conns = append(conns, stall(t, path, 1000, []byte{0x1f}, enc))
	}
	resp, body := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, 2, ts.SpanCount())

	for i, c := range conns {
		resp, body := c.answerOf(t)
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "connection %d: %s", i, body)
		assert.True(t, resp.Close, "the connection is closed after a 408")
		st := decodeStatus(t, encodingProtobuf, body)
		assert.Equal(t, int32(codes.DeadlineExceeded), st.GetCode())
		assert.Contains(t, st.GetMessage(), "read_body_timeout (500ms)")
		assert.True(t, c.closedByServer(5*time.Second), "connection %d closed", i)
	}
	assert.Equal(t, int64(len(conns)), counter(t, r.tt, "otelcol_otlpuds_bodies_timed_out", "", ""))
	requireIdle(t, r)
}

// Waiting for room in flight does not count against read_body_timeout: a
// request that waited longer than the timeout to be admitted still has its
// body read and delivered.
func TestBodyWaitingForRoomIsNotCut(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cfg.Admission.MaxWait = guard
	cfg.ReadBodyTimeout = time.Second
	block := &blockingTraces{entered: make(chan struct{}, 1), release: make(chan struct{})}
	comp, tt := createReceiver(t, cfg, consumers{traces: block})
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	r := &testReceiver{cfg: cfg, comp: comp, tt: tt, client: udsClient(t, cfg.ServerConfig.NetAddr.Endpoint)}
	t.Cleanup(func() { require.NoError(t, comp.Shutdown(context.Background())) })

	// Over the budget by itself: it holds all of it in the pipeline.
	holder := postAsync(context.Background(), r.client, bigTracesBody(t, 1100<<10), ctHeader(encodingProtobuf))
	select {
	case <-block.entered:
	case a := <-holder:
		t.Fatalf("answered %d before reaching the pipeline: %s", a.code, a.body)
	case <-time.After(guard):
		t.Fatal("never reached the pipeline")
	}
	waiting := postAsync(context.Background(), r.client, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "request_limit") == 1
	}, guard, 5*time.Millisecond)
	time.Sleep(cfg.ReadBodyTimeout + cfg.ReadBodyTimeout/2)
	close(block.release)
	for _, ch := range []<-chan answer{holder, waiting} {
		a := recv(t, ch)
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusOK, a.code, string(a.body))
	}
	assert.Equal(t, 2, block.sink.SpanCount())
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_bodies_timed_out", "", ""))
	requireIdle(t, r)
}

// A body that arrives in pieces, each within the timeout but all together
// past it, is cut: read_body_timeout bounds the whole body, so a peer
// trickling a byte at a time cannot hold its connection for long.
func TestTricklingBodyIsCut(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReadBodyTimeout = 300 * time.Millisecond
	r := startReceiver(t, cfg, consumers{traces: new(consumertest.TracesSink)})
	c := stall(t, cfg.ServerConfig.NetAddr.Endpoint, 100, []byte{0x0a}, "")
	start := time.Now()
	for time.Since(start) < 3*cfg.ReadBodyTimeout {
		if _, err := c.Write([]byte{0x00}); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, _ := c.answerOf(t)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_otlpuds_bodies_timed_out", "", ""))
}
