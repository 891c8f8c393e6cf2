package otlpudsreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

// errMemoryRefused is what memory_limiter answers when memory is high
// (its ErrDataRefused): a plain, non-permanent error, answered 503.
var errMemoryRefused = errors.New("data refused due to high memory usage")

// guard bounds every wait of these tests; it is never a speed assertion.
const guard = 30 * time.Second

// refusingTraces refuses with a retryable error while refuse says so (or
// for its first refusals offers when refuse is nil), then delivers to sink.
type refusingTraces struct {
	refusals int64 // refuse this many offers first
	refuse   atomic.Bool
	offers   atomic.Int64
	sink     consumertest.TracesSink
}

func (c *refusingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := c.offers.Add(1)
	if n <= c.refusals || c.refuse.Load() {
		return errMemoryRefused
	}
	return c.sink.ConsumeTraces(ctx, td)
}

func (*refusingTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// admissionOf is the admission control of a started test receiver.
func admissionOf(r *testReceiver) *admission {
	return r.comp.(*sharedReceiver).recv.admission
}

// upDown returns the current value of an int up-down counter, all points
// with attribute wait=kind summed (all points if kind is empty).
func upDown(t *testing.T, tt *componenttest.Telemetry, name, kind string) int64 {
	t.Helper()
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int sum", name)
	require.False(t, sum.IsMonotonic, "%s is an up-down counter", name)
	var total int64
	for _, dp := range sum.DataPoints {
		if v, found := dp.Attributes.Value("wait"); kind != "" && (!found || v.AsString() != kind) {
			continue
		}
		total += dp.Value
	}
	return total
}

// refusedCount is otelcol_otlpuds_admission_refused for wait and reason.
func refusedCount(t *testing.T, tt *componenttest.Telemetry, wait, reason string) int64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_otlpuds_admission_refused")
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		w, _ := dp.Attributes.Value("wait")
		r, _ := dp.Attributes.Value("reason")
		if w.AsString() == wait && r.AsString() == reason {
			total += dp.Value
		}
	}
	return total
}

// waitTimeCount is the number of waits the histogram recorded for wait.
func waitTimeCount(t *testing.T, tt *componenttest.Telemetry, wait string) uint64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_otlpuds_admission_wait_time")
	if err != nil {
		return 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	var n uint64
	for _, dp := range h.DataPoints {
		if v, _ := dp.Attributes.Value("wait"); v.AsString() == wait {
			n += dp.Count
		}
	}
	return n
}

// TestGaugesReadZeroBeforeAnyRequest: the up-down gauges are there, at 0,
// from the start (each wait kind of the waiting gauge too), so that a
// dashboard shows an idle receiver as idle, not as missing data.
func TestGaugesReadZeroBeforeAnyRequest(t *testing.T) {
	r := startReceiver(t, testConfig(t), consumers{traces: new(consumertest.TracesSink)})
	const waiting = "otelcol_otlpuds_admission_waiting"
	kinds := map[string]bool{} // the wait kinds the waiting gauge has a point for
	for _, name := range []string{
		waiting,
		"otelcol_otlpuds_admission_waiting_bytes",
		"otelcol_otlpuds_admission_in_flight_bytes",
		"otelcol_otlpuds_connections_open",
	} {
		m, err := r.tt.GetMetric(name)
		require.NoError(t, err, "%s is not reported before the first request", name)
		points := m.Data.(metricdata.Sum[int64]).DataPoints
		require.NotEmpty(t, points, name)
		for _, dp := range points {
			assert.Zero(t, dp.Value, name)
			if v, ok := dp.Attributes.Value("wait"); ok && name == waiting {
				kinds[v.AsString()] = true
			}
		}
	}
	for _, kind := range []string{"request_limit", "pipeline"} {
		assert.True(t, kinds[kind], "otelcol_otlpuds_admission_waiting has no point for wait=%s", kind)
	}
}

// requireIdle checks the gauges read 0 once every request is answered.
func requireIdle(t *testing.T, r *testReceiver) {
	t.Helper()
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "") == 0 &&
			upDown(t, r.tt, "otelcol_otlpuds_admission_waiting_bytes", "") == 0 &&
			upDown(t, r.tt, "otelcol_otlpuds_admission_in_flight_bytes", "") == 0
	}, guard, 5*time.Millisecond, "waiting, waiting bytes and bytes in flight read 0 when idle")
}

// answer is a client's view of one request.
type answer struct {
	code       int
	retryAfter string
	body       []byte
	err        error
}

// postAsync sends body in the background; the answer arrives on the
// channel. ctx may cancel the request (the client disconnects).
func postAsync(ctx context.Context, c *http.Client, body []byte, headers map[string]string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://otlpuds"+pathTraces, bytes.NewReader(body))
		if err != nil {
			out <- answer{err: err}
			return
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		out <- answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: buf.Bytes(), err: err}
	}()
	return out
}

func recv(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(guard):
		t.Fatal("no answer")
		return answer{}
	}
}

// bigTracesBody is a protobuf request of one span carrying size bytes in
// an attribute.
func bigTracesBody(t *testing.T, size int) []byte {
	t.Helper()
	td := testdata.GenerateTraces(1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("big", strings.Repeat("x", size))
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return b
}

// A request the pipeline refuses for now waits and is offered again: the
// client gets 200 and the data is delivered once.
func TestPipelineRefusalWaitsThenDelivers(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.MaxWait = guard / 2
	c := &refusingTraces{refusals: 3}
	r := startReceiver(t, cfg, consumers{traces: c})

	resp, body := post(t, r.client, pathTraces, tracesBody(t, 5, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	tr := ptraceotlp.NewExportResponse()
	require.NoError(t, tr.UnmarshalProto(body))
	assert.Zero(t, tr.PartialSuccess().RejectedSpans())

	assert.Equal(t, int64(4), c.offers.Load(), "refused three times, accepted on the fourth offer")
	require.Len(t, c.sink.AllTraces(), 1, "delivered exactly once")
	assert.Equal(t, 5, c.sink.SpanCount())

	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "pipeline"))
	assert.Equal(t, uint64(1), waitTimeCount(t, r.tt, "pipeline"))
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_refused", "", ""))
	// The receiver's standard metrics count the final outcome only.
	assert.Equal(t, int64(5), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	assert.Zero(t, counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
	requireIdle(t, r)
}

// Errors answered 429 (gRPC RESOURCE_EXHAUSTED) wait too; permanent ones
// are answered at once, never offered twice.
func TestOnlyRetryableRefusalsWait(t *testing.T) {
	t.Run("resource exhausted waits", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Admission.MaxWait = guard / 2
		var offers atomic.Int64
		sink := new(consumertest.TracesSink)
		tc, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
			if offers.Add(1) == 1 {
				return consumererror.NewRetryableError(errors.New("queue full"))
			}
			return sink.ConsumeTraces(ctx, td)
		})
		require.NoError(t, err)
		r := startReceiver(t, cfg, consumers{traces: tc})
		resp, body := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.Equal(t, int64(2), offers.Load())
		assert.Equal(t, 2, sink.SpanCount())
	})
	t.Run("permanent is answered at once", func(t *testing.T) {
		cfg := testConfig(t)
		var offers atomic.Int64
		tc, err := consumer.NewTraces(func(context.Context, ptrace.Traces) error {
			offers.Add(1)
			return consumererror.NewPermanent(errors.New("bad data"))
		})
		require.NoError(t, err)
		r := startReceiver(t, cfg, consumers{traces: tc})
		resp, _ := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Equal(t, int64(1), offers.Load())
		assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_waited", "", ""))
	})
}

// Past max_wait the request is answered as it would have been at once:
// 503 with Retry-After, counted as refused after waiting (timeout).
func TestPipelineRefusalPastMaxWaitIs503(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.MaxWait = 300 * time.Millisecond
	c := &refusingTraces{}
	c.refuse.Store(true)
	r := startReceiver(t, cfg, consumers{traces: c})

	resp, body := post(t, r.client, pathTraces, tracesBody(t, 3, encodingJSON), ctHeader(encodingJSON))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, decodeStatus(t, encodingJSON, body).GetMessage(), errMemoryRefused.Error())
	assert.Greater(t, c.offers.Load(), int64(1), "offered again while waiting")
	assert.Empty(t, c.sink.AllTraces())

	assert.Equal(t, int64(1), refusedCount(t, r.tt, "pipeline", "timeout"))
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "pipeline"))
	assert.Equal(t, uint64(1), waitTimeCount(t, r.tt, "pipeline"))
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""), "refused once, not once per offer")
	requireIdle(t, r)
}

// When the waiting room is full a refused request is answered 503 at
// once; the request already waiting is still delivered.
func TestWaitingRoomFullIs503AtOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.WaitingLimitMiB = 1
	cfg.Admission.MaxWait = guard
	c := &refusingTraces{}
	c.refuse.Store(true)
	r := startReceiver(t, cfg, consumers{traces: c})
	body := bigTracesBody(t, 600<<10) // two do not fit in 1 MiB

	first := postAsync(context.Background(), r.client, body, ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "pipeline") == 1
	}, guard, 5*time.Millisecond)
	assert.Equal(t, int64(len(body)), upDown(t, r.tt, "otelcol_otlpuds_admission_waiting_bytes", ""))

	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "answered while the first still waits")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, decodeStatus(t, encodingProtobuf, respBody).GetMessage(), errMemoryRefused.Error())
	assert.Equal(t, int64(1), refusedCount(t, r.tt, "pipeline", "waiting_room_full"))
	assert.Equal(t, int64(1), upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "pipeline"), "the first still waits")

	c.refuse.Store(false)
	a := recv(t, first)
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code)
	assert.Len(t, c.sink.AllTraces(), 1)
	requireIdle(t, r)
}

// A client that disconnects while waiting frees its place at once: the
// next request gets it, and the first one's data is never delivered.
func TestClientDisconnectFreesWaitingPlace(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.WaitingLimitMiB = 1
	cfg.Admission.MaxWait = guard
	c := &refusingTraces{}
	c.refuse.Store(true)
	r := startReceiver(t, cfg, consumers{traces: c})
	body := bigTracesBody(t, 600<<10)

	ctx, cancel := context.WithCancel(context.Background())
	first := postAsync(ctx, r.client, body, ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "pipeline") == 1
	}, guard, 5*time.Millisecond)
	cancel()
	a := recv(t, first)
	require.ErrorIs(t, a.err, context.Canceled)

	// Its place is free long before max_wait.
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "") == 0 &&
			upDown(t, r.tt, "otelcol_otlpuds_admission_waiting_bytes", "") == 0
	}, guard, 5*time.Millisecond)
	assert.Equal(t, int64(1), refusedCount(t, r.tt, "pipeline", "client_gone"))

	// The next waiter is admitted to the room, then delivered.
	second := postAsync(context.Background(), r.client, body, ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "pipeline") == 1
	}, guard, 5*time.Millisecond)
	c.refuse.Store(false)
	a = recv(t, second)
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code)
	assert.Len(t, c.sink.AllTraces(), 1, "only the second request's data")
	assert.Zero(t, refusedCount(t, r.tt, "pipeline", "waiting_room_full"))
	requireIdle(t, r)
}

// blockOnce holds the first offer until released; later ones go through.
type blockOnce struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	inner   consumer.Traces
}

func (b *blockOnce) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	first := false
	b.once.Do(func() { first = true })
	if first {
		close(b.entered)
		<-b.release
	}
	return b.inner.ConsumeTraces(ctx, td)
}

func (*blockOnce) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// Shutdown answers the requests waiting, for the pipeline or for room in
// flight, with 503 at once instead of hanging until max_wait, then goes on
// as before: the request being processed finishes.
func TestShutdownAnswersWaitingRequests(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cfg.Admission.MaxWait = guard
	refusing := &refusingTraces{}
	refusing.refuse.Store(true)
	block := &blockOnce{entered: make(chan struct{}), release: make(chan struct{}), inner: refusing}
	comp, tt := createReceiver(t, cfg, consumers{traces: block})
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	r := &testReceiver{cfg: cfg, comp: comp, tt: tt, client: udsClient(t, cfg.ServerConfig.NetAddr.Endpoint)}
	big := bigTracesBody(t, 600<<10)

	// One request holds 600 KiB of the 1 MiB in flight, in the pipeline.
	holder := postAsync(context.Background(), r.client, big, ctHeader(encodingProtobuf))
	<-block.entered
	// Two small ones wait for the pipeline...
	small := []<-chan answer{
		postAsync(context.Background(), r.client, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf)),
		postAsync(context.Background(), r.client, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf)),
	}
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "pipeline") == 2
	}, guard, 5*time.Millisecond)
	// ... and a large one for room in flight.
	waitingForRoom := postAsync(context.Background(), r.client, big, ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool {
		return upDown(t, r.tt, "otelcol_otlpuds_admission_waiting", "request_limit") == 1
	}, guard, 5*time.Millisecond)

	shutdown := make(chan error, 1)
	go func() { shutdown <- comp.Shutdown(context.Background()) }()
	for _, ch := range append(small, waitingForRoom) {
		a := recv(t, ch)
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusServiceUnavailable, a.code)
		assert.Equal(t, "1", a.retryAfter)
	}
	assert.Equal(t, int64(2), refusedCount(t, r.tt, "pipeline", "shutdown"))
	assert.Equal(t, int64(1), refusedCount(t, r.tt, "request_limit", "shutdown"))
	select {
	case err := <-shutdown:
		t.Fatalf("shutdown returned (%v) before the request in flight finished", err)
	default:
	}

	// The request in the pipeline finishes as before shutdown; refused
	// now, it is answered at once rather than waiting.
	close(block.release)
	a := recv(t, holder)
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusServiceUnavailable, a.code)
	select {
	case err := <-shutdown:
		require.NoError(t, err)
	case <-time.After(guard):
		t.Fatal("shutdown did not return")
	}
	requireIdle(t, r)
}

// concurrentBytes is a consumer that records the largest sum of request
// sizes it held at once, taking its time over each.
type concurrentBytes struct {
	mu      sync.Mutex
	now     int
	peak    int
	hold    time.Duration
	spans   atomic.Int64
	batches atomic.Int64
}

func (c *concurrentBytes) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	size := (&ptrace.ProtoMarshaler{}).TracesSize(td)
	c.mu.Lock()
	c.now += size
	c.peak = max(c.peak, c.now)
	c.mu.Unlock()
	time.Sleep(c.hold)
	c.mu.Lock()
	c.now -= size
	c.mu.Unlock()
	c.spans.Add(int64(td.SpanCount()))
	c.batches.Add(1)
	return nil
}

func (*concurrentBytes) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// Many concurrent large requests never take more than request_limit_mib
// in flight: the rest wait for room and are all served.
func TestBytesInFlightStayWithinBudget(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cfg.Admission.WaitingLimitMiB = 16
	cfg.Admission.MaxWait = guard
	c := &concurrentBytes{hold: 20 * time.Millisecond}
	r := startReceiver(t, cfg, consumers{traces: c})
	big := bigTracesBody(t, 300<<10)

	const n = 20
	var answers []<-chan answer
	for range n {
		answers = append(answers, postAsync(context.Background(), r.client, big, ctHeader(encodingProtobuf)))
	}
	// A small request is served meanwhile.
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for _, ch := range answers {
		a := recv(t, ch)
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusOK, a.code)
	}
	assert.Equal(t, int64(n+1), c.batches.Load())
	// Bodies are charged as they arrive: while only requests still reading
	// hold the budget, the oldest may take one body past it.
	assert.LessOrEqual(t, admissionOf(r).peakInFlight(), int64(1<<20)+bufferCeiling(bodyLimit(int64(len(big)), 20<<20)),
		"bytes in flight never past request_limit_mib, plus one body")
	assert.LessOrEqual(t, c.peak, 1<<20, "the data in the pipeline at once, counted by its protobuf size, within the budget too")
	assert.Greater(t, c.peak, len(big), "requests did run side by side")
	assert.Positive(t, counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "request_limit"))
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_refused", "", ""))
	requireIdle(t, r)
}

// A request larger than request_limit_mib by itself is admitted alone.
func TestRequestOverBudgetGoesAlone(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	big := bigTracesBody(t, 1536<<10)
	resp, body := post(t, r.client, pathTraces, big, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, 1, ts.SpanCount())
	requireIdle(t, r)
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	return gzipped(t, b, (*gzip.Writer).Close)
}

// gzipped is b gzipped, the stream ended by end (Close, or Flush for a
// stream that stops short of its end).
func gzipped(t *testing.T, b []byte, end func(*gzip.Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, end(w))
	return buf.Bytes()
}

// Compressed bodies are charged as they inflate. Requests that each hold
// part of the budget while their bodies grow never wait for one another
// for ever: the oldest still reading may always grow, so all are served,
// and bytes in flight stay within the budget plus one body.
func TestCompressedBodiesGrowWithinBudget(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServerConfig.MaxRequestBodySize = 2 << 20
	cfg.Admission.RequestLimitMiB = 2
	cfg.Admission.MaxWait = guard
	c := &concurrentBytes{hold: 5 * time.Millisecond}
	r := startReceiver(t, cfg, consumers{traces: c})
	raw := bigTracesBody(t, 900<<10)
	gz := gzipBytes(t, raw)
	require.Less(t, len(gz), 64<<10, "charged far less than it inflates to at first")

	const n = 12
	var answers []<-chan answer
	for range n {
		answers = append(answers, postAsync(context.Background(), r.client, gz, map[string]string{
			"Content-Type": contentTypeProtobuf, "Content-Encoding": "gzip",
		}))
	}
	for _, ch := range answers {
		a := recv(t, ch)
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusOK, a.code, string(a.body))
	}
	assert.Equal(t, int64(n), c.batches.Load())
	assert.LessOrEqual(t, admissionOf(r).peakInFlight(), int64(2<<20)+bufferCeiling(bodyLimit(-1, 2<<20)),
		"within request_limit_mib, plus the one body the oldest reader may grow past it")
	requireIdle(t, r)
}

// zstdFrame is a zstd frame of size zeros, declaring its size in its
// header (as an encoder given the whole content does) or not (as a
// streaming encoder does).
func zstdFrame(t *testing.T, size int, declared bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf)
	require.NoError(t, err)
	if declared {
		enc.ResetContentSize(&buf, int64(size))
	}
	_, err = enc.Write(make([]byte, size))
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	var h zstd.Header
	require.NoError(t, h.Decode(buf.Bytes()))
	require.Equal(t, declared, h.HasFCS)
	return buf.Bytes()
}

// 40 concurrent zstd bombs (bodies of a few hundred bytes inflating past
// max_request_body_size): those declaring their size in the frame header
// are answered 413 before anything is charged or decoded; the streamed
// ones (no declared size) are admitted within the share of bodies of
// unknown size: each is charged its decoder's window and the bytes it
// inflates to, so they take turns, and each is answered 413 (or 503 when
// it cannot get room in time). A well-behaved sender meanwhile is answered
// 200.
func TestDecompressionBombsStayWithinBudget(t *testing.T) {
	cfg := testConfig(t)
	const maxBody = 2 << 20
	cfg.ServerConfig.MaxRequestBodySize = maxBody
	cfg.Admission.RequestLimitMiB = 24 // two bombs at once: 8.5 MiB window + body each
	cfg.Admission.MaxWait = guard
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	declared, streamed := zstdFrame(t, maxBody+maxBody/2, true), zstdFrame(t, maxBody+maxBody/2, false)
	require.Less(t, len(streamed), 33<<10)

	const bombs = 40
	var answers []<-chan answer
	for i := range bombs {
		bomb := declared
		if i%2 == 1 {
			bomb = streamed
		}
		answers = append(answers, postAsync(context.Background(), r.client, bomb, map[string]string{
			"Content-Type": contentTypeProtobuf, "Content-Encoding": "zstd",
		}))
	}
	good := tracesBody(t, 10, encodingProtobuf)
	for range 5 {
		resp, body := post(t, r.client, pathTraces, good, ctHeader(encodingProtobuf))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}
	tooLarge, busy := 0, 0
	for _, ch := range answers {
		a := recv(t, ch)
		require.NoError(t, a.err)
		switch a.code {
		case http.StatusRequestEntityTooLarge:
			tooLarge++
		case http.StatusServiceUnavailable:
			busy++
		default:
			t.Errorf("bomb answered %d: %s", a.code, a.body)
		}
	}
	assert.Equal(t, bombs, tooLarge+busy)
	assert.Equal(t, 50, ts.SpanCount(), "the well-behaved sender's spans all delivered")
	window := int64(zstdMinWindow + zstdBlockSlack)
	peak := admissionOf(r).peakInFlight()
	assert.LessOrEqual(t, peak, int64(12<<20)+window+maxBody+chunkSize, "within the share of bodies of unknown size plus one body")
	assert.Less(t, peak, int64(bombs)*window, "far from every bomb's decoder at once")
	assert.GreaterOrEqual(t, tooLarge, bombs/2, "every bomb declaring its size refused")
	t.Logf("bombs: %d answered 413, %d answered 503; peak in flight %d bytes", tooLarge, busy, peak)
	requireIdle(t, r)
}

// A body that cannot get room in flight within max_wait is answered 503
// with Retry-After, counted as refused waiting for request_limit.
func TestNoRoomInFlightPastMaxWaitIs503(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.RequestLimitMiB = 1
	cfg.Admission.MaxWait = 300 * time.Millisecond
	block := &blockingTraces{entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := startReceiver(t, cfg, consumers{traces: block})
	// Over the budget by itself: admitted alone, it holds all of it.
	big := bigTracesBody(t, 1100<<10)

	holder := postAsync(context.Background(), r.client, big, ctHeader(encodingProtobuf))
	<-block.entered
	resp, body := post(t, r.client, pathTraces, big, ctHeader(encodingJSON))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, decodeStatus(t, encodingJSON, body).GetMessage(), "admission::request_limit_mib")
	assert.Equal(t, int64(1), refusedCount(t, r.tt, "request_limit", "timeout"))
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_otlpuds_admission_waited", "wait", "request_limit"))

	close(block.release)
	a := recv(t, holder)
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code)
	requireIdle(t, r)
}

// With waiting_limit_mib 0 nothing waits: a retryable refusal is 503 at
// once, as before admission existed.
func TestNoWaitingRoomAnswersAtOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.WaitingLimitMiB = 0
	cfg.Admission.MaxWait = guard
	c := &refusingTraces{refusals: 1}
	r := startReceiver(t, cfg, consumers{traces: c})
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, int64(1), c.offers.Load())
	assert.Equal(t, int64(1), refusedCount(t, r.tt, "pipeline", "waiting_room_full"))
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_waited", "", ""))
}

// The charge of a request before its body is read, by encoding.
func TestEstimateBody(t *testing.T) {
	r := &udsReceiver{maxBodySize: 20 << 20}
	request := func(body []byte, encoding string, contentLength int64) *http.Request {
		req, err := http.NewRequest(http.MethodPost, "http://otlpuds/v1/traces", bytes.NewReader(body))
		require.NoError(t, err)
		req.ContentLength = contentLength
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		return req
	}
	zstdWindow := int64(20<<20 + zstdBlockSlack)

	assert.Equal(t, bodyEstimate{}, r.estimateBody(request(nil, "", 0)), "no body, no charge")
	assert.Equal(t, bodyEstimate{body: firstBodyRoom, waitBytes: 1000}, r.estimateBody(request(make([]byte, 1000), "", 1000)),
		"plain body: its first buffer, whatever its length")
	assert.Equal(t, bodyEstimate{body: firstBodyRoom, waitBytes: 20 << 20}, r.estimateBody(request(make([]byte, 20<<20), "", 20<<20)),
		"an announced 20 MiB is charged its first buffer too: more only as bytes arrive")
	assert.Equal(t, bodyEstimate{body: firstBodyRoom, waitBytes: 20 << 20, kind: unknownSize}, r.estimateBody(request(make([]byte, 1000), "", -1)),
		"no Content-Length: the first buffer, and max_request_body_size in the waiting room; its size unknown")
	assert.Equal(t, knownSize, r.estimateBody(request(make([]byte, 1000), "identity", 1000)).kind, "identity is no encoding")
	assert.Equal(t, bodyEstimate{allowance: flateAllowance, body: firstBodyRoom, waitBytes: 500, kind: unknownSize}, r.estimateBody(request(make([]byte, 500), "gzip", 500)),
		"compressed: its size unknown until decompressed")
	assert.Equal(t, bodyEstimate{allowance: zstdWindow, transient: zstdWindow, body: firstBodyRoom, waitBytes: 100 << 10, kind: unknownSize},
		r.estimateBody(request(make([]byte, 100<<10), "zstd", 100<<10)), "zstd: the largest window confighttp's decoder allows, freed once read")
	assert.Equal(t, bodyEstimate{allowance: lz4Allowance, body: firstBodyRoom, waitBytes: 10, kind: unknownSize}, r.estimateBody(request(make([]byte, 10), "lz4", 10)))
	assert.Equal(t, bodyEstimate{body: firstBodyRoom, waitBytes: 10, kind: unknownSize}, r.estimateBody(request(make([]byte, 10), "br", 10)),
		"an encoding confighttp refuses before reading costs no decoder")

	// A zstd frame declaring its content size: over max_request_body_size,
	// refused before anything is charged or decoded; within it, or not
	// declared, charged as any zstd body. The body reads whole after the
	// peek.
	over := zstdFrame(t, 20<<20+1, true)
	req := request(over, "zstd", int64(len(over)))
	assert.Equal(t, bodyEstimate{tooLarge: true}, r.estimateBody(req), "declares 1 byte over the limit")
	rest := new(bytes.Buffer)
	_, err := rest.ReadFrom(req.Body)
	require.NoError(t, err)
	assert.Equal(t, over, rest.Bytes(), "the body reads whole after the peek")
	within := zstdFrame(t, 20<<20, true)
	assert.False(t, r.estimateBody(request(within, "zstd", int64(len(within)))).tooLarge, "declares exactly the limit")
	streamed := zstdFrame(t, 20<<20+1, false)
	est := r.estimateBody(request(streamed, "zstd", int64(len(streamed))))
	assert.False(t, est.tooLarge, "no declared size: left to the decoder and the body limit")
	assert.Equal(t, zstdWindow, est.allowance)
	assert.False(t, r.estimateBody(request(over[:6], "zstd", 6)).tooLarge, "a header cut short is left to the decoder")

	// A snappy block: confighttp decodes it whole before the handler; the
	// decoded length it announces is charged for as long as the request.
	decoded := make([]byte, 300<<10)
	block := snappy.Encode(nil, decoded)
	req = request(block, "snappy", int64(len(block)))
	est = r.estimateBody(req)
	assert.Equal(t, int64(len(block)+len(decoded)), est.allowance)
	assert.Equal(t, int64(len(block)), est.transient)
	rest.Reset()
	_, err = rest.ReadFrom(req.Body)
	require.NoError(t, err)
	assert.Equal(t, block, rest.Bytes(), "the body reads whole after the peek")

	var framed bytes.Buffer
	w := snappy.NewBufferedWriter(&framed)
	_, err = w.Write(decoded)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	est = r.estimateBody(request(framed.Bytes(), "snappy", int64(framed.Len())))
	assert.Equal(t, int64(snappyFramedAllowance), est.allowance, "framed snappy decodes in chunks")
}

// The README documents every admission key with the default the code has.
func TestReadmeDocumentsAdmissionKeys(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	def := defaultAdmissionConfig()
	for key, want := range map[string]string{
		"request_limit_mib": fmt.Sprint(def.RequestLimitMiB),
		"waiting_limit_mib": fmt.Sprint(def.WaitingLimitMiB),
		"max_wait":          def.MaxWait.String(),
	} {
		row := regexp.MustCompile("(?m)^\\| `admission::" + key + "` \\| `([^`]*)` \\|").FindSubmatch(readme)
		require.NotNil(t, row, "README.md config table has no admission::%s row", key)
		assert.Equal(t, want, string(row[1]), "admission::%s default", key)
	}
	for _, name := range []string{"waited", "wait_time", "refused", "waiting", "waiting_bytes", "in_flight_bytes"} {
		assert.Contains(t, string(readme), "`otelcol_otlpuds_admission_"+name+"`")
	}
}

// newTestAdmission is an admission with a budget of limit bytes, a waiting
// room of room bytes and a long max_wait, reporting to tt.
func newTestAdmission(t *testing.T, limit, room int64) (*admission, *componenttest.Telemetry) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tt.NewTelemetrySettings())
	require.NoError(t, err)
	a := newAdmission(AdmissionConfig{MaxWait: guard}, tb)
	a.setLimit(limit)
	a.roomLimit = room
	return a, tt
}

// inBackground runs f and delivers its result.
func inBackground(f func() refusal) <-chan refusal {
	out := make(chan refusal, 1)
	go func() { out <- f() }()
	return out
}

func requirePending(t *testing.T, ch <-chan refusal) {
	t.Helper()
	select {
	case why := <-ch:
		t.Fatalf("returned %s while it should wait", why)
	default:
	}
}

func requireGranted(t *testing.T, ch <-chan refusal) {
	t.Helper()
	select {
	case why := <-ch:
		require.Equal(t, refusalNone, why)
	case <-time.After(guard):
		t.Fatal("still waiting")
	}
}

// waitingNow is how many requests wait on a's queues.
func waitingNow(a *admission) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.growing.Len() + a.admitQ.Len()
}

// Requests are admitted in arrival order: a small one, of known size or
// not, does not pass a large one of known size waiting ahead of it.
func TestAdmissionIsFirstComeFirstServed(t *testing.T) {
	for _, kind := range []requestKind{knownSize, unknownSize} {
		a, _ := newTestAdmission(t, 100, 1000)
		ctx := context.Background()
		holder := a.newTicket(time.Now())
		require.Equal(t, refusalNone, holder.admit(ctx, 0, 0, 80, 80))

		large := a.newTicket(time.Now())
		largeDone := inBackground(func() refusal { return large.admit(ctx, 0, 0, 60, 60) })
		require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
		small := a.newTicket(time.Now())
		small.kind = kind
		smallDone := inBackground(func() refusal { return small.admit(ctx, 0, 0, 10, 10) })
		require.Eventually(t, func() bool { return waitingNow(a) == 2 }, guard, time.Millisecond)
		requirePending(t, smallDone) // 10 would fit, but the large one came first

		holder.done()
		requireGranted(t, largeDone)
		requireGranted(t, smallDone)
		large.done()
		small.done()
		assert.Zero(t, a.holds[0].inFlight)
		assert.Equal(t, int64(80), a.peakInFlight(), "never more than the budget")
	}
}

// The oldest request still reading may always grow its body, past the
// budget if need be; younger ones wait, and go first once room frees.
func TestAdmissionOldestReaderNeverWaits(t *testing.T) {
	a, _ := newTestAdmission(t, 100, 1000)
	ctx := context.Background()
	oldest := a.newTicket(time.Now())
	require.Equal(t, refusalNone, oldest.admit(ctx, 0, 0, 40, 40))
	younger := a.newTicket(time.Now())
	require.Equal(t, refusalNone, younger.admit(ctx, 0, 0, 40, 40))

	youngerGrows := inBackground(func() refusal { return younger.growBody(ctx, 80) })
	require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
	// A new request waits behind the growing body.
	late := a.newTicket(time.Now())
	lateDone := inBackground(func() refusal { return late.admit(ctx, 0, 0, 5, 5) })
	require.Eventually(t, func() bool { return waitingNow(a) == 2 }, guard, time.Millisecond)

	require.Equal(t, refusalNone, oldest.growBody(ctx, 100), "the oldest reader grows at once")
	assert.Equal(t, int64(140), a.peakInFlight(), "past the budget by the oldest reader's growth only")
	requirePending(t, youngerGrows)

	// Once read, the oldest keeps only its body's size: room for the
	// younger body, then for the late request.
	oldest.bodyRead(10)
	requireGranted(t, youngerGrows)
	requireGranted(t, lateDone)
	younger.done()
	oldest.done()
	late.done()
	assert.Zero(t, a.holds[0].inFlight)
}

// twoReaders admits two readers holding the whole budget of 100 (60 and
// 40 bytes), the second waiting to grow its body to grow bytes.
func twoReaders(t *testing.T, grow int64) (a *admission, first, second *ticket, grows <-chan refusal) {
	t.Helper()
	a, _ = newTestAdmission(t, 100, 1000)
	ctx := context.Background()
	first = a.newTicket(time.Now())
	require.Equal(t, refusalNone, first.admit(ctx, 0, 0, 60, 60))
	second = a.newTicket(time.Now())
	require.Equal(t, refusalNone, second.admit(ctx, 0, 0, 40, 40))
	grows = inBackground(func() refusal { return second.growBody(ctx, grow) })
	require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
	return a, first, second, grows
}

// The younger body waiting to grow becomes the oldest reader when the
// oldest is read, and then grows past the budget once it alone holds
// bytes in flight.
func TestAdmissionNextOldestReaderGrows(t *testing.T) {
	a, first, second, grows := twoReaders(t, 200)
	first.bodyRead(60) // read, still in flight: 60 + 40 charged, no room
	// Readers hold every byte in flight no more: the request past reading
	// frees its bytes when answered, so the oldest reader waits for that
	// rather than pass the budget while it is still held.
	time.Sleep(20 * time.Millisecond)
	requirePending(t, grows)
	first.done()
	requireGranted(t, grows)
	assert.Equal(t, int64(200), a.holds[0].inFlight, "past the budget alone")
	second.done()
	assert.Zero(t, a.holds[0].inFlight)
}

// Readers that hold the whole budget and all want to grow do not wait for
// one another: the oldest grows past it (by one body at most), and bytes
// charged to readers are counted as such.
func TestAdmissionOldestReaderOvershootsOnlyAmongReaders(t *testing.T) {
	a, first, second, secondGrows := twoReaders(t, 80)
	require.Equal(t, refusalNone, first.growBody(context.Background(), 120), "the oldest reader goes on when readers hold it all")
	assert.Equal(t, int64(160), a.holds[0].inFlight)
	assert.Equal(t, a.holds[0].inFlight, a.holds[0].reading)
	first.bodyRead(100)
	assert.Equal(t, int64(40), a.holds[0].reading)
	first.done()
	requireGranted(t, secondGrows)
	second.done()
	assert.Zero(t, a.holds[0].inFlight)
	assert.Zero(t, a.holds[0].reading)
}

// The waiting room counts bytes; a request that does not fit is refused
// at once, and a request over the room never waits.
func TestAdmissionWaitingRoom(t *testing.T) {
	a, tt := newTestAdmission(t, 100, 50)
	ctx := context.Background()
	holder := a.newTicket(time.Now())
	require.Equal(t, refusalNone, holder.admit(ctx, 0, 0, 100, 100))
	w1 := a.newTicket(time.Now())
	w1Done := inBackground(func() refusal { return w1.admit(ctx, 0, 0, 30, 30) })
	require.Eventually(t, func() bool { return waitingNow(a) == 1 }, guard, time.Millisecond)
	assert.Equal(t, refusalRoomFull, a.newTicket(time.Now()).admit(ctx, 0, 0, 30, 30))
	assert.Equal(t, refusalRoomFull, a.newTicket(time.Now()).admit(ctx, 0, 0, 60, 60), "over the room by itself")
	assert.Equal(t, int64(30), upDown(t, tt, "otelcol_otlpuds_admission_waiting_bytes", ""))
	holder.done()
	requireGranted(t, w1Done)
	w1.done()
	assert.Zero(t, upDown(t, tt, "otelcol_otlpuds_admission_waiting_bytes", ""))
	assert.Zero(t, upDown(t, tt, "otelcol_otlpuds_admission_waiting", ""))
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_otlpuds_admission_waited", "wait", "request_limit"))
}

// A line per signal: a request not yet offered goes to the pipeline at
// once when nobody waits for it and lines up behind those who do; only the
// head's offer is due, retryInterval after the line's last offer, or at once
// when the pipeline took the previous head's data; a request behind the
// head whose time runs out leaves without an offer and without taking the
// head's turn.
func TestLineHandsTheTurnInOrder(t *testing.T) {
	a, tt := newTestAdmission(t, 0, 1000)
	ctx := context.Background()

	first := a.newTicket(time.Now())
	p, why := first.lineUp(signalTraces, 10, false)
	require.Nil(t, p, "nobody waits: offered at once")
	require.Equal(t, refusalNone, why)
	head, why := first.lineUp(signalTraces, 10, true)
	require.Equal(t, refusalNone, why)
	require.NotNil(t, head, "refused: lines up")
	refusedAt := time.Now()

	second := a.newTicket(time.Now())
	behind, why := second.lineUp(signalTraces, 20, false)
	require.Equal(t, refusalNone, why)
	require.NotNil(t, behind, "others wait: lines up without an offer")
	// Its time runs out 100 ms from now, long before the guard.
	third := a.newTicket(time.Now().Add(100*time.Millisecond - guard))
	last, why := third.lineUp(signalTraces, 30, false)
	require.Equal(t, refusalNone, why)
	require.NotNil(t, last)
	assert.Equal(t, 3, a.inLineNow(signalTraces))
	assert.Equal(t, int64(60), upDown(t, tt, "otelcol_otlpuds_admission_waiting_bytes", ""))

	other := a.newTicket(time.Now())
	p, why = other.lineUp(signalLogs, 10, false)
	assert.Nil(t, p, "another signal's pipeline has its own line")
	assert.Equal(t, refusalNone, why)

	secondTurn := inBackground(func() refusal { return second.awaitTurn(ctx, behind) })
	thirdTurn := inBackground(func() refusal { return third.awaitTurn(ctx, last) })
	require.Equal(t, refusalNone, first.awaitTurn(ctx, head))
	assert.GreaterOrEqual(t, time.Since(refusedAt), retryInterval-5*time.Millisecond, "the head offers again retryInterval after its refusal")
	first.offered(head, false)
	requirePending(t, secondTurn)

	// Behind the head, the third runs out of time and leaves unoffered.
	select {
	case why := <-thirdTurn:
		require.Equal(t, refusalTimeout, why)
	case <-time.After(guard):
		t.Fatal("the third waits past its deadline")
	}
	third.leaveLine(last)
	requirePending(t, secondTurn)
	assert.Equal(t, 2, a.inLineNow(signalTraces))

	// The head's next offer is taken: the second's turn comes at once.
	require.Equal(t, refusalNone, first.awaitTurn(ctx, head))
	first.offered(head, true)
	first.leaveLine(head)
	requireGranted(t, secondTurn)
	second.offered(behind, true)
	second.leaveLine(behind)
	assert.Zero(t, a.inLineNow(signalTraces))
	assert.Zero(t, upDown(t, tt, "otelcol_otlpuds_admission_waiting_bytes", ""))
	assert.Zero(t, upDown(t, tt, "otelcol_otlpuds_admission_waiting", ""))
	for _, tk := range []*ticket{first, second, third, other} {
		tk.done()
	}
	assert.Equal(t, int64(3), counter(t, tt, "otelcol_otlpuds_admission_waited", "wait", "pipeline"))
}

// meteredTraces takes the data of one request per token and refuses the
// rest as memory_limiter does; it records the requests it took, in order,
// and the most offers it saw at once.
type meteredTraces struct {
	tokens chan struct{}

	mu        sync.Mutex
	order     []string
	inside    int
	maxInside int
}

func (c *meteredTraces) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	c.inside++
	c.maxInside = max(c.maxInside, c.inside)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inside--
		c.mu.Unlock()
	}()
	// An offer takes a while, so that offers made together overlap.
	time.Sleep(time.Millisecond)
	select {
	case <-c.tokens:
	default:
		return errMemoryRefused
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = append(c.order, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name())
	return nil
}

func (*meteredTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *meteredTraces) taken() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// namedTracesBody is a protobuf request of one span called name.
func namedTracesBody(t *testing.T, name string) []byte {
	t.Helper()
	td := testdata.GenerateTraces(1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(name)
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return b
}

// With a pipeline that takes one request per tick, requests waiting for it
// and requests arriving meanwhile are served in the order they came, one
// offer at a time, and none runs out of time although all of them together
// need most of max_wait: a fresh arrival does not take the opening the
// oldest waiter is owed.
func TestPipelineServesWaitersInArrivalOrder(t *testing.T) {
	const (
		waiters = 4
		fresh   = 4
		tick    = 100 * time.Millisecond
	)
	cfg := testConfig(t)
	cfg.Admission.MaxWait = 2 * time.Second // (waiters+fresh)*tick is 0.8 s
	c := &meteredTraces{tokens: make(chan struct{})}
	r := startReceiver(t, cfg, consumers{traces: c})
	a := admissionOf(r)
	// Arrived: waiting in line, or taken by the pipeline.
	arrived := func() int { return a.inLineNow(signalTraces) + len(c.taken()) }

	var want []string
	var answers []<-chan answer
	send := func(name string) {
		want = append(want, name)
		answers = append(answers, postAsync(context.Background(), r.client, namedTracesBody(t, name), ctHeader(encodingProtobuf)))
		n := len(want)
		require.Eventually(t, func() bool { return arrived() == n }, guard, time.Millisecond, "%s lines up", name)
	}
	// The pipeline takes nothing yet: the first is refused and lines up,
	// the others line up behind it.
	for i := range waiters {
		send(fmt.Sprintf("waiter-%d", i))
	}
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
			case <-stop:
				return
			}
			select {
			case c.tokens <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-ticked }()
	// Producers answered meanwhile send again: they go behind.
	for i := range fresh {
		send(fmt.Sprintf("fresh-%d", i))
	}
	for i, ch := range answers {
		got := recv(t, ch)
		require.NoError(t, got.err)
		require.Equal(t, http.StatusOK, got.code, "%s: %s", want[i], got.body)
	}
	assert.Equal(t, want, c.taken(), "taken in arrival order")
	c.mu.Lock()
	assert.Equal(t, 1, c.maxInside, "one offer at a time")
	c.mu.Unlock()
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_admission_refused", "", ""))
	assert.Equal(t, int64(waiters+fresh), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	requireIdle(t, r)
}

// A request behind the head whose max_wait runs out before its turn is
// answered 503 with Retry-After without being offered; the head goes on.
func TestLineTimeoutBehindHeadIs503(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admission.MaxWait = 300 * time.Millisecond
	c := &refusingTraces{}
	c.refuse.Store(true)
	r := startReceiver(t, cfg, consumers{traces: c})
	a := admissionOf(r)

	head := postAsync(context.Background(), r.client, namedTracesBody(t, "head"), ctHeader(encodingProtobuf))
	require.Eventually(t, func() bool { return a.inLineNow(signalTraces) == 1 }, guard, time.Millisecond)
	offers := c.offers.Load()
	behind := postAsync(context.Background(), r.client, namedTracesBody(t, "behind"), ctHeader(encodingProtobuf))
	for _, ch := range []<-chan answer{head, behind} {
		got := recv(t, ch)
		require.NoError(t, got.err)
		assert.Equal(t, http.StatusServiceUnavailable, got.code)
		assert.Equal(t, "1", got.retryAfter)
	}
	// The head was offered every retryInterval until its time ran out;
	// had the one behind offered too, there would be about twice as many.
	assert.LessOrEqual(t, c.offers.Load()-offers, int64(cfg.Admission.MaxWait/retryInterval)+2)
	assert.Equal(t, int64(2), refusedCount(t, r.tt, "pipeline", "timeout"))
	assert.Equal(t, int64(2), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
	assert.Empty(t, c.sink.AllTraces())
	requireIdle(t, r)
}

// While the pipeline refuses the head of a line, the admission runs a
// garbage collection once the refusal and the runtime's last collection are
// both gcAfter old, then not again for gcAfter; a collection the runtime ran
// on its own puts it off; an offer taken starts the count again.
func TestRefusedLineCollectsGarbageWhenStale(t *testing.T) {
	a, tt := newTestAdmission(t, 0, 1000)
	var runs, cycles atomic.Uint64
	a.runGC = func() { runs.Add(1); cycles.Add(1) }
	a.readCycles = cycles.Load
	a.gcAfter = 100 * time.Millisecond
	start := time.Now()
	a.gcSeen = start

	tk := a.newTicket(start)
	head, why := tk.lineUp(signalTraces, 10, true)
	require.Equal(t, refusalNone, why)
	tk.offered(head, false)
	assert.Zero(t, runs.Load(), "refused for less than gcAfter")

	time.Sleep(a.gcAfter)
	tk.offered(head, false)
	assert.Equal(t, uint64(1), runs.Load(), "refused gcAfter, no collection for as long")
	tk.offered(head, false)
	assert.Equal(t, uint64(1), runs.Load(), "not again within gcAfter")
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_otlpuds_admission_collections", "", ""))

	// The runtime collects on its own: nothing more to do for gcAfter.
	time.Sleep(a.gcAfter)
	cycles.Add(1)
	tk.offered(head, false)
	assert.Equal(t, uint64(1), runs.Load(), "the runtime just collected")
	time.Sleep(a.gcAfter)
	tk.offered(head, false)
	assert.Equal(t, uint64(2), runs.Load())

	// Taken: the next refusal counts from zero.
	time.Sleep(a.gcAfter)
	tk.offered(head, true)
	tk.offered(head, false)
	assert.Equal(t, uint64(2), runs.Load(), "refused just now")
	tk.leaveLine(head)
	tk.done()

	// Nothing waits: nothing runs.
	time.Sleep(a.gcAfter)
	assert.Equal(t, uint64(2), runs.Load())
}

// gcAfter is a fifth of max_wait, between two offers of the head and 1 s.
func TestGCAfterFollowsMaxWait(t *testing.T) {
	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	for maxWait, want := range map[time.Duration]time.Duration{
		defaultMaxWait:         time.Second,
		time.Minute:            time.Second,
		2 * time.Second:        400 * time.Millisecond,
		200 * time.Millisecond: 2 * retryInterval,
	} {
		assert.Equal(t, want, newAdmission(AdmissionConfig{MaxWait: maxWait}, tb).gcAfter, "max_wait %s", maxWait)
	}
}
