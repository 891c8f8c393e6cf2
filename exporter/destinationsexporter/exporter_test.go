package destinationsexporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
)

const (
	metricRouted  = "otelcol_exporter_destinations_spans_routed"
	metricSent    = "otelcol_exporter_destinations_spans_sent"
	metricLost    = "otelcol_exporter_destinations_spans_lost"
	metricDropped = "otelcol_exporter_destinations_spans_dropped"
)

// One healthy destination, one answering 503 to everything, one sleeping 2 s
// per request (and waited for: its timeout is longer): the healthy one gets
// every span within a second of the first send, the calls return at once,
// the others' losses are counted, and nothing is returned to the caller.
func TestOneBadDestinationNeverHoldsBackTheOthers(t *testing.T) {
	healthy := newBackend(t, http.StatusOK, nil)
	failing := newBackend(t, http.StatusServiceUnavailable, nil)
	slow := newBackend(t, http.StatusOK, sleepFor(2*time.Second))

	slowCfg := destinationConfig(slow.srv.URL)
	slowCfg.ClientConfig.Timeout = 3 * time.Second
	slowCfg.QueueConfig.Get().NumConsumers = 2
	slowCfg.QueueConfig.Get().QueueSize = 2

	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"healthy": destinationConfig(healthy.srv.URL),
		"failing": destinationConfig(failing.srv.URL),
		"slow":    slowCfg,
	}
	exp, tel := startExporter(t, cfg)

	const requests, spansPer = 20, 5
	start := time.Now()
	for range requests {
		td := newTraces(
			resourceSpec{destination: "healthy", spans: spansPer},
			resourceSpec{destination: "failing", spans: spansPer},
			resourceSpec{destination: "slow", spans: spansPer},
			resourceSpec{destination: "jaeger", spans: 2},
			resourceSpec{spans: 3},
		)
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	}
	const perDestination = requests * spansPer

	require.Eventually(t, func() bool { return healthy.spanCount() == perDestination },
		5*time.Second, 10*time.Millisecond)
	// Measured from the first send, at the backend: a dispatch that waited
	// on the slow destination (2 s a request) would deliver the last healthy
	// request seconds late.
	assert.Less(t, healthy.lastAccepted().Sub(start), time.Second,
		"the healthy destination must get every span within a second of sending")

	for _, name := range []string{"healthy", "failing", "slow"} {
		assert.Equal(t, int64(perDestination), counter(t, tel, metricRouted, "destination", name), name)
	}
	assert.Equal(t, int64(requests*2), counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Equal(t, int64(requests*3), counter(t, tel, metricDropped, "reason", "unrouted"))

	// The failing destination loses everything once retries give up.
	require.Eventually(t, func() bool {
		return counter(t, tel, metricLost, "destination", "failing", "reason", "send_failed") == perDestination
	}, 5*time.Second, 20*time.Millisecond)
	assert.Zero(t, counter(t, tel, metricLost, "destination", "failing", "reason", "queue_full"))

	// The slow destination fills its small queue (queue_full) and delivers,
	// late, what it took: together, everything routed to it.
	assert.Positive(t, counter(t, tel, metricLost, "destination", "slow", "reason", "queue_full"))
	require.Eventually(t, func() bool {
		return counter(t, tel, metricLost, "destination", "slow", "reason", "queue_full")+
			counter(t, tel, metricSent, "destination", "slow") == perDestination
	}, 8*time.Second, 20*time.Millisecond)
	assert.Positive(t, slow.spanCount())
	assert.Equal(t, int64(slow.spanCount()), counter(t, tel, metricSent, "destination", "slow"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "slow", "reason", "send_failed"))

	assert.Equal(t, int64(perDestination), counter(t, tel, metricSent, "destination", "healthy"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "healthy", "reason", "send_failed"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "healthy", "reason", "queue_full"))
	assert.Zero(t, counter(t, tel, metricSent, "destination", "failing"))

	// Each destination's own exporter reports the stock exporter metrics
	// under its own ID.
	assert.Equal(t, int64(perDestination), counter(t, tel, "otelcol_exporter_sent_spans", "exporter", "otlp_http/healthy"))
	assert.Equal(t, int64(perDestination), counter(t, tel, "otelcol_exporter_send_failed_spans", "exporter", "otlp_http/failing"))

	require.NoError(t, exp.Shutdown(context.Background()))
}

// The route attribute is gone at the backend; the account, zone and
// workspace stamps stay.
func TestRouteAttributeRemovedBeforeSending(t *testing.T) {
	tempo := newBackend(t, http.StatusOK, nil)
	vendor := newBackend(t, http.StatusOK, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"tempo":  destinationConfig(tempo.srv.URL),
		"vendor": destinationConfig(vendor.srv.URL),
	}
	exp, _ := startExporter(t, cfg)

	td := newTraces(
		resourceSpec{destination: "tempo", spans: 2},
		resourceSpec{destination: "vendor", spans: 3},
		resourceSpec{destination: "tempo", spans: 1},
	)
	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Equal(t, 3, tempo.spanCount())
	assert.Equal(t, 1, tempo.requestCount(), "one batch per destination per call")
	assert.Equal(t, 3, vendor.spanCount())
	for _, b := range []*backend{tempo, vendor} {
		resources := b.receivedResources()
		require.NotEmpty(t, resources)
		for _, attrs := range resources {
			_, has := attrs.Get(DefaultRouteAttribute)
			assert.False(t, has, "route attribute must be removed")
			for key, want := range map[string]string{
				"trace_config.account":   "a1",
				"trace_config.zone":      "z1",
				"trace_config.workspace": "w1",
				"service.name":           "svc",
			} {
				v, ok := attrs.Get(key)
				require.True(t, ok, key)
				assert.Equal(t, want, v.Str(), key)
			}
		}
	}
}

// Unrouted resources go to every default destination; unknown names are
// still dropped; a custom route attribute is honoured and removed.
func TestDefaultDestinationsAndCustomRouteAttribute(t *testing.T) {
	a := newBackend(t, http.StatusOK, nil)
	b := newBackend(t, http.StatusOK, nil)
	c := newBackend(t, http.StatusOK, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.RouteAttribute = "route.to"
	cfg.DefaultDestinations = []string{"a", "b"}
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a": destinationConfig(a.srv.URL),
		"b": destinationConfig(b.srv.URL),
		"c": destinationConfig(c.srv.URL),
	}
	exp, tel := startExporter(t, cfg)

	td := newTraces(
		resourceSpec{spans: 4},                   // no route.to: defaults
		resourceSpec{destination: "c", spans: 1}, // sets trace_config.destination, not route.to: defaults
		resourceSpec{destination: "", spans: 0},  // empty resource: defaults, no spans
	)
	withRouteTo := func(value, span string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("route.to", value)
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName(span)
	}
	withRouteTo("c", "to-c")
	withRouteTo("nowhere", "lost")
	withRouteTo("", "empty-route")

	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Equal(t, 6, a.spanCount())
	assert.Equal(t, 6, b.spanCount())
	assert.Equal(t, 1, c.spanCount())
	for _, dest := range []*backend{c, a} {
		for _, attrs := range dest.receivedResources() {
			_, has := attrs.Get("route.to")
			assert.False(t, has)
		}
	}
	assert.Equal(t, int64(6), counter(t, tel, metricRouted, "destination", "a"))
	assert.Equal(t, int64(6), counter(t, tel, metricRouted, "destination", "b"))
	assert.Equal(t, int64(1), counter(t, tel, metricRouted, "destination", "c"))
	assert.Equal(t, int64(1), counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Zero(t, counter(t, tel, metricDropped, "reason", "unrouted"))
}

// Shutdown drains every queue: what was queued behind a blocked request
// reaches the backend once it answers, before Shutdown returns.
func TestShutdownDeliversWhatWasQueued(t *testing.T) {
	blocked, g, blockedCfg := newGatedDestination(t)
	other := newBackend(t, http.StatusOK, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"blocked": blockedCfg,
		"other":   destinationConfig(other.srv.URL),
	}
	exp, tel := startExporter(t, cfg)

	const requests, spansPer = 10, 3
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
			resourceSpec{destination: "blocked", spans: spansPer},
			resourceSpec{destination: "other", spans: spansPer},
		)))
	}
	require.Eventually(t, func() bool { return other.spanCount() == requests*spansPer },
		time.Second, 10*time.Millisecond)
	assert.Zero(t, blocked.spanCount())

	go func() {
		time.Sleep(100 * time.Millisecond) // let Shutdown start first
		g.open()
	}()
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Equal(t, requests*spansPer, blocked.spanCount())
	assert.Equal(t, int64(requests*spansPer), counter(t, tel, metricSent, "destination", "blocked"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "blocked", "reason", "send_failed"))
	assert.Zero(t, counter(t, tel, metricLost, "destination", "blocked", "reason", "queue_full"))
}

// A full queue refuses at once; the refusal is counted for that destination
// and never returned to the caller.
func TestQueueFullCountedNotReturned(t *testing.T) {
	blocked, g, blockedCfg := newGatedDestination(t)
	blockedCfg.QueueConfig.Get().QueueSize = 2
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{"blocked": blockedCfg}
	exp, tel := startExporter(t, cfg)

	send := func() {
		require.NoError(t, exp.ConsumeTraces(context.Background(),
			newTraces(resourceSpec{destination: "blocked", spans: 1})))
	}
	send()
	// Wait until the single consumer holds the first request at the backend.
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, time.Second, 5*time.Millisecond)
	for range 5 {
		send()
	}
	lostFull := counter(t, tel, metricLost, "destination", "blocked", "reason", "queue_full")
	assert.Positive(t, lostFull)
	g.open()
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, int64(6), counter(t, tel, metricRouted, "destination", "blocked"))
	assert.Equal(t, int64(6)-lostFull, counter(t, tel, metricSent, "destination", "blocked"))
	assert.Equal(t, int(6-lostFull), blocked.spanCount())
}

// Destinations shut down at once: while one drains slowly (its backend holds
// every answer), another's retries stop and its loss is counted, instead of
// retrying on until the slow drain ends.
func TestShutdownDoesNotWaitDestinationByDestination(t *testing.T) {
	held, g, heldCfg := newGatedDestination(t)
	failing := newBackend(t, http.StatusServiceUnavailable, nil)
	failingCfg := destinationConfig(failing.srv.URL)
	failingCfg.RetryConfig.MaxElapsedTime = time.Minute // retries until shut down
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a-held":    heldCfg, // sorted first: a one-by-one shutdown would wait on it
		"b-failing": failingCfg,
	}
	exp, tel := startExporter(t, cfg)

	for range 3 {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
			resourceSpec{destination: "a-held", spans: 2},
			resourceSpec{destination: "b-failing", spans: 2},
		)))
	}
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // b-failing is retrying
	require.Zero(t, counter(t, tel, metricLost, "destination", "b-failing", "reason", "send_failed"))

	done := make(chan error, 1)
	go func() { done <- exp.Shutdown(context.Background()) }()
	require.Eventually(t, func() bool {
		return counter(t, tel, metricLost, "destination", "b-failing", "reason", "send_failed") == 6
	}, 2*time.Second, 10*time.Millisecond, "b-failing must stop retrying while a-held still drains")
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) before a-held drained", err)
	default:
	}
	g.open()
	require.NoError(t, <-done)
	assert.Equal(t, 6, held.spanCount())
}
