package destinationsexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadatatest"
)

// drainWarning is the message of the one warning per destination that lost
// spans at shutdown.
const drainWarning = "Shutdown drain ran out of time: spans still queued or in flight for this destination were not delivered"

// drainWarnings returns the drain warnings by destination.
func drainWarnings(t *testing.T, logs *observer.ObservedLogs) map[string][]observer.LoggedEntry {
	t.Helper()
	byDest := map[string][]observer.LoggedEntry{}
	for _, e := range logs.FilterMessage(drainWarning).All() {
		assert.Equal(t, zapcore.WarnLevel, e.Level)
		dest, _ := e.ContextMap()["destination"].(string)
		byDest[dest] = append(byDest[dest], e)
	}
	return byDest
}

// accounted returns routed and sent + lost (all reasons) of a destination.
func accounted(t *testing.T, tel *componenttest.Telemetry, name string) (routed, sentAndLost int64) {
	t.Helper()
	routed = counter(t, tel, metricRouted, "destination", name)
	sentAndLost = counter(t, tel, metricSent, "destination", name) + counter(t, tel, metricLost, "destination", name)
	return routed, sentAndLost
}

// (1) Data queued behind a slow but reachable backend is all delivered
// during shutdown, within drain_timeout: nothing is lost, nothing warned.
func TestShutdownDrainDeliversQueuedBehindSlowBackend(t *testing.T) {
	g := &gate{release: make(chan struct{})}
	// Holds every answer until the gate opens (so everything is still
	// queued when shutdown begins), then takes 100 ms per request.
	slow := newBackend(t, http.StatusOK, func(r *http.Request) {
		g.hold(r)
		sleepFor(100 * time.Millisecond)(r)
	})
	t.Cleanup(g.open)
	slowCfg := destinationConfig(slow.srv.URL)
	slowCfg.ClientConfig.Timeout = 10 * time.Second
	slowCfg.QueueConfig.Get().NumConsumers = 1

	cfg := createDefaultConfig().(*Config)
	cfg.DrainTimeout = 30 * time.Second // generous: the drain takes about 1 s
	cfg.Destinations = map[string]*otlphttpexporter.Config{"slow": slowCfg}
	exp, tel, logs := startExporterWithLogs(t, cfg)

	const requests, spansPer = 10, 5
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "slow", spans: spansPer})))
	}
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
	require.Zero(t, slow.spanCount(), "everything is queued or in flight when shutdown begins")

	g.open()
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Equal(t, requests*spansPer, slow.spanCount())
	assert.Equal(t, requests, slow.requestCount(), "each request delivered once")
	assert.Equal(t, int64(requests*spansPer), counter(t, tel, metricSent, "destination", "slow"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "slow"), "no loss of any reason")
	assert.Empty(t, drainWarnings(t, logs))
	assert.Zero(t, logs.FilterLevelExact(zapcore.ErrorLevel).Len(), "no error logged")
}

// Retries go on during the drain, while time remains, and destinations
// drain at once: a flaky destination (503 until a moment after shutdown
// began) gets everything it queued, and finishes while another destination,
// whose backend holds every answer, is still draining.
func TestShutdownDrainRetriesWhileTimeRemains(t *testing.T) {
	held, g, heldCfg := newGatedDestination(t)
	var recovered atomic.Bool
	flaky := newBackend(t, http.StatusOK, nil)
	flaky.unavailable = func() bool { return !recovered.Load() }
	flakyCfg := destinationConfig(flaky.srv.URL)
	flakyCfg.RetryConfig.MaxElapsedTime = time.Minute // retries until it recovers

	cfg := createDefaultConfig().(*Config)
	cfg.DrainTimeout = 30 * time.Second
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a-held":  heldCfg, // sorted first: a one-by-one shutdown would wait on it
		"b-flaky": flakyCfg,
	}
	exp, tel, logs := startExporterWithLogs(t, cfg)

	const requests, spansPer = 3, 2
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
			resourceSpec{to: "a-held", spans: spansPer},
			resourceSpec{to: "b-flaky", spans: spansPer},
		)))
	}
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return flaky.refusedCount() >= 2*requests }, 2*time.Second, 5*time.Millisecond,
		"b-flaky's requests are being retried")

	done := make(chan error, 1)
	go func() { done <- exp.Shutdown(context.Background()) }()
	time.Sleep(200 * time.Millisecond) // shutdown has begun: retries no longer stop there
	recovered.Store(true)

	require.Eventually(t, func() bool { return flaky.spanCount() == requests*spansPer }, 5*time.Second, 10*time.Millisecond,
		"b-flaky delivers everything once it recovers, during the drain")
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) before a-held drained", err)
	default:
	}
	g.open()
	require.NoError(t, <-done)

	assert.Equal(t, requests*spansPer, held.spanCount())
	assert.Equal(t, requests, flaky.requestCount(), "each request delivered once")
	for _, name := range []string{"a-held", "b-flaky"} {
		assert.Equal(t, int64(requests*spansPer), counter(t, tel, metricSent, "destination", name), name)
		assert.Zero(t, counter(t, tel, metricLost, "destination", name), name)
	}
	assert.Empty(t, drainWarnings(t, logs))
}

// (2) A hanging backend (it never answers) and a failing one (503 forever):
// shutdown returns within drain_timeout plus a guard (a hanging request
// would otherwise hold it for the 30 s client timeout); what they had
// queued or in flight is counted lost with reason shutdown; each gets
// exactly one warning with its count and none of the per-request errors;
// the healthy destination received everything, once.
func TestShutdownAbandonsWhatDrainTimeoutCannotDeliver(t *testing.T) {
	healthy := newBackend(t, http.StatusOK, nil)
	hanging, g, hangingCfg := newGatedDestination(t)
	hangingCfg.ClientConfig.Timeout = 30 * time.Second
	hangingCfg.QueueConfig.Get().NumConsumers = 2
	failing := newBackend(t, http.StatusServiceUnavailable, nil)
	failingCfg := destinationConfig(failing.srv.URL)
	failingCfg.RetryConfig.MaxElapsedTime = time.Minute // retries until abandoned

	const drainTimeout = time.Second
	cfg := createDefaultConfig().(*Config)
	cfg.DrainTimeout = drainTimeout
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"healthy": destinationConfig(healthy.srv.URL),
		"hanging": hangingCfg,
		"failing": failingCfg,
	}
	exp, tel, logs := startExporterWithLogs(t, cfg)

	const requests, spansPer = 10, 3
	const perDestination = requests * spansPer
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
			resourceSpec{to: "healthy", spans: spansPer},
			resourceSpec{to: "hanging", spans: spansPer},
			resourceSpec{to: "failing", spans: spansPer},
		)))
	}
	require.Eventually(t, func() bool { return healthy.spanCount() == perDestination }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return g.arrived.Load() == 2 }, 2*time.Second, 5*time.Millisecond,
		"two requests hang in flight, the rest are queued")
	require.Eventually(t, func() bool { return failing.requestCount() == 0 && counter(t, tel, metricLost) == 0 }, time.Second, 10*time.Millisecond)

	start := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	elapsed := time.Since(start)
	// A generous guard: only an unbounded drain (30 s per hanging request)
	// or a drain destination by destination could take this long.
	assert.Less(t, elapsed, drainTimeout+10*time.Second, "shutdown is bounded by drain_timeout")
	assert.Zero(t, hanging.spanCount())

	// The healthy destination: everything, once, no loss.
	assert.Equal(t, perDestination, healthy.spanCount())
	assert.Equal(t, requests, healthy.requestCount())
	assert.Equal(t, int64(perDestination), counter(t, tel, metricSent, "destination", "healthy"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "healthy"))

	// The others: everything lost, with reason shutdown.
	for _, name := range []string{"hanging", "failing"} {
		assert.Equal(t, int64(perDestination), counter(t, tel, metricLost, "destination", name, "reason", "shutdown"), name)
		assert.Zero(t, counter(t, tel, metricLost, "destination", name, "reason", "send_failed"), name)
		assert.Zero(t, counter(t, tel, metricSent, "destination", name), name)
		// The stock metric of the destination's own exporter sees them as
		// failed by shutdown, which is also what makes a persistent queue
		// keep such a request.
		assert.Equal(t, int64(perDestination), counter(t, tel, "otelcol_exporter_send_failed_spans",
			"exporter", "otlp_http/"+name, "error.type", "Shutdown"), name)
	}
	for _, name := range []string{"healthy", "hanging", "failing"} {
		routed, sentAndLost := accounted(t, tel, name)
		assert.Equal(t, routed, sentAndLost, "%s: routed = sent + lost", name)
	}

	// Exactly one warning per destination that lost spans, with its count.
	warnings := drainWarnings(t, logs)
	assert.Len(t, warnings, 2)
	assert.Empty(t, warnings["healthy"])
	for _, name := range []string{"hanging", "failing"} {
		if assert.Len(t, warnings[name], 1, name) {
			fields := warnings[name][0].ContextMap()
			assert.Equal(t, int64(perDestination), fields["spans"], name)
			assert.Equal(t, "1s", fields["drain_timeout"], name)
		}
	}
	assert.Zero(t, logs.FilterMessageSnippet("Dropping data").Len(), "no per-request error for what the drain abandoned")

	// Shutting down again is harmless and says nothing more.
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Len(t, logs.FilterMessage(drainWarning).All(), 2)
}

// drain_timeout 0: no drain. What was queued is abandoned at once, counted
// and warned, nothing sent.
func TestShutdownWithZeroDrainTimeoutAbandonsAtOnce(t *testing.T) {
	held, _, heldCfg := newGatedDestination(t)
	cfg := createDefaultConfig().(*Config)
	cfg.DrainTimeout = 0
	cfg.Destinations = map[string]*otlphttpexporter.Config{"held": heldCfg}
	exp, tel, logs := startExporterWithLogs(t, cfg)

	const requests, spansPer = 5, 4
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "held", spans: spansPer})))
	}
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Zero(t, held.spanCount())
	assert.Equal(t, int64(requests*spansPer), counter(t, tel, metricLost, "destination", "held", "reason", "shutdown"))
	assert.Zero(t, counter(t, tel, metricSent, "destination", "held"))
	warnings := drainWarnings(t, logs)
	if assert.Len(t, warnings["held"], 1) {
		assert.Equal(t, int64(requests*spansPer), warnings["held"][0].ContextMap()["spans"])
		assert.Equal(t, "0s", warnings["held"][0].ContextMap()["drain_timeout"])
	}
}

// A batch offered once shutdown has begun never sits in a stopped queue: it
// is counted lost with reason shutdown, and the call still returns nil.
func TestOfferAfterShutdownCountedLost(t *testing.T) {
	backends, exp, tel := routeBackends(t, "a")
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "a", spans: 3})))
	assert.Zero(t, backends["a"].spanCount())
	assert.Equal(t, int64(3), counter(t, tel, metricRouted, "destination", "a"))
	assert.Equal(t, int64(3), counter(t, tel, metricLost, "destination", "a", "reason", "shutdown"))
}

// (3) Waiting never duplicates: a batch fanned out to two destinations, one
// of whose queues is full. The call returns nil, so the sender (or the
// otlpuds admission that retries what the pipeline refused) never resends a
// batch the other destination took; the full destination's loss is counted;
// the other delivers each batch exactly once.
func TestFanOutWithOneFullQueueNeverAsksForRetry(t *testing.T) {
	full, g, fullCfg := newGatedDestination(t)
	// Capacity is freed when a request is done, not when a consumer takes
	// it: two requests fill it, one in flight and one queued.
	fullCfg.QueueConfig.Get().QueueSize = 2
	ok := newBackend(t, http.StatusOK, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"full": fullCfg,
		"ok":   destinationConfig(ok.srv.URL),
	}
	exp, tel := startExporter(t, cfg)

	const spansPer = 4
	send := func() error {
		return exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "full,ok", spans: spansPer}))
	}
	require.NoError(t, send()) // held in flight at full's backend
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, send()) // fills full's queue
	const batches = 5
	for range batches - 2 {
		require.NoError(t, send(), "a full destination is never the sender's error")
	}
	require.Eventually(t, func() bool { return ok.spanCount() == batches*spansPer }, 5*time.Second, 10*time.Millisecond)

	assert.Equal(t, int64((batches-2)*spansPer), counter(t, tel, metricLost, "destination", "full", "reason", "queue_full"))
	assert.Equal(t, batches, ok.requestCount(), "ok received each batch exactly once")
	assert.Len(t, ok.receivedResources(), batches)
	assert.Zero(t, counter(t, tel, metricLost, "destination", "ok"))
	// The exporter's own (stock) metrics: every batch accepted, none failed.
	assert.Equal(t, int64(batches*spansPer), counter(t, tel, "otelcol_exporter_sent_spans", "exporter", "destinations"),
		"each batch accepted whole")
	assert.Zero(t, counter(t, tel, "otelcol_exporter_send_failed_spans", "exporter", "destinations"))

	g.open()
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, 2*spansPer, full.spanCount(), "full delivers what it took, once")
	assert.Equal(t, batches*spansPer, ok.spanCount(), "and ok nothing more")
	for _, name := range []string{"full", "ok"} {
		routed, sentAndLost := accounted(t, tel, name)
		assert.Equal(t, routed, sentAndLost, "%s: routed = sent + lost", name)
	}
}

// exporterhelper reads an abandonedError as its own "interrupted due to
// shutdown" error (error.type=Shutdown), which is what makes a persistent
// queue keep the request for the next start; errors.Is still finds the
// cause.
func TestAbandonedIsExporterhelperShutdown(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cause := errors.New("503")
	abandoned := &abandonedError{cause: cause}
	assert.ErrorIs(t, abandoned, cause)
	assert.True(t, isAbandoned(fmt.Errorf("wrapped: %w", abandoned)))
	assert.False(t, isAbandoned(cause))

	exp, err := exporterhelper.NewTraces(context.Background(), metadatatest.NewSettings(tel), &Config{},
		func(context.Context, ptrace.Traces) error { return abandoned })
	require.NoError(t, err)
	require.ErrorIs(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "a", spans: 2})), cause)
	assert.Equal(t, int64(2), counter(t, tel, "otelcol_exporter_send_failed_spans", "error.type", "Shutdown"))
}
