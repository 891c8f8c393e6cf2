package destinationsexporter

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/tracebound/tracebound/internal/route"
)

const (
	metricRouted  = "otelcol_exporter_destinations_spans_routed"
	metricSent    = "otelcol_exporter_destinations_spans_sent"
	metricLost    = "otelcol_exporter_destinations_spans_lost"
	metricDropped = "otelcol_exporter_destinations_spans_dropped"
)

// One healthy destination, one answering 503 to everything, one holding
// every request until the test releases it (and waited for: its timeout is
// longer): the healthy one gets every span while the slow one still holds
// its first requests, the calls return without waiting for it, the others'
// losses are counted, and nothing is returned to the caller. Ordered by
// events, not timed: a dispatch that waited on the slow destination never
// gets the healthy one its spans, and the test fails after 10 s.
func TestOneBadDestinationNeverHoldsBackTheOthers(t *testing.T) {
	healthy := newBackend(t, http.StatusOK, nil)
	failing := newBackend(t, http.StatusServiceUnavailable, nil)
	// The slow destination answers nothing until the healthy one has
	// everything: a dispatch that waited on it would never get there.
	release := make(chan struct{})
	slow := newBackend(t, http.StatusOK, holdUntil(release))
	releaseSlow := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseSlow) // before the server's Close, which waits for held requests

	slowCfg := destinationConfig(slow.srv.URL)
	slowCfg.ClientConfig.Timeout = time.Minute
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
	sent := make(chan error, 1)
	go func() { // a dispatch that waited on the slow destination would block here
		for range requests {
			td := newTraces(
				resourceSpec{to: "healthy", spans: spansPer},
				resourceSpec{to: "failing", spans: spansPer},
				resourceSpec{to: "slow", spans: spansPer},
				resourceSpec{to: "jaeger", spans: 2},
				resourceSpec{spans: 3},
			)
			if err := exp.ConsumeTraces(context.Background(), td); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	const perDestination = requests * spansPer

	require.Eventually(t, func() bool { return healthy.spanCount() == perDestination },
		10*time.Second, 10*time.Millisecond, "the healthy destination must get every span while the slow one holds its requests")
	assert.Zero(t, slow.spanCount(), "the slow destination answered before it was released")
	require.NoError(t, <-sent)
	releaseSlow()

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
		resourceSpec{to: "tempo", spans: 2},
		resourceSpec{to: "vendor", spans: 3},
		resourceSpec{to: "tempo", spans: 1},
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
			_, has := attrs.Get(route.Attribute)
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

// routeBackends starts one healthy backend per name and an exporter with a
// destination for each.
func routeBackends(t *testing.T, names ...string) (map[string]*backend, exporter.Traces, *componenttest.Telemetry) {
	t.Helper()
	backends := make(map[string]*backend, len(names))
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = make(map[string]*otlphttpexporter.Config, len(names))
	for _, name := range names {
		backends[name] = newBackend(t, http.StatusOK, nil)
		cfg.Destinations[name] = destinationConfig(backends[name].srv.URL)
	}
	exp, tel := startExporter(t, cfg)
	return backends, exp, tel
}

// A resource routed to a,b,c reaches each of the three backends exactly
// once, without the route and with its trace config stamps.
func TestRouteReachesEveryNamedDestinationOnce(t *testing.T) {
	backends, exp, tel := routeBackends(t, "a", "b", "c")
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "a,b,c", spans: 3})))
	require.NoError(t, exp.Shutdown(context.Background()))

	for name, b := range backends {
		assert.Equal(t, 3, b.spanCount(), name)
		assert.Equal(t, 1, b.requestCount(), name)
		resources := b.receivedResources()
		require.Len(t, resources, 1, name)
		_, has := resources[0].Get(route.Attribute)
		assert.False(t, has, "%s: the route is removed", name)
		for key, want := range map[string]string{
			"trace_config.account":   "a1",
			"trace_config.zone":      "z1",
			"trace_config.workspace": "w1",
			"service.name":           "svc",
		} {
			v, ok := resources[0].Get(key)
			require.True(t, ok, "%s: %s", name, key)
			assert.Equal(t, want, v.Str(), "%s: %s", name, key)
		}
		assert.Equal(t, int64(3), counter(t, tel, metricRouted, "destination", name), name)
	}
	assert.Zero(t, counter(t, tel, metricDropped))
}

// A route naming 32 destinations of which 31 are not configured: one copy
// reaches the configured one, the spans are counted dropped once per unknown
// name, and nothing is handed to any queue for the unknown names.
func TestUnknownNamesGetNoCopy(t *testing.T) {
	backends, exp, tel := routeBackends(t, "tempo")
	const spans = 5
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: routeOf32(), spans: spans})))
	require.NoError(t, exp.Shutdown(context.Background()))

	tempo := backends["tempo"]
	assert.Equal(t, spans, tempo.spanCount())
	require.Len(t, tempo.receivedResources(), 1, "exactly one copy reaches tempo")
	_, has := tempo.receivedResources()[0].Get(route.Attribute)
	assert.False(t, has)
	assert.Equal(t, int64(spans), counter(t, tel, metricRouted), "only tempo's copy is handed to a queue")
	assert.Equal(t, int64(31*spans), counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Zero(t, counter(t, tel, metricDropped, "reason", "unrouted"))
}

// A name repeated in the route is delivered once.
func TestRepeatedNameDeliveredOnce(t *testing.T) {
	backends, exp, tel := routeBackends(t, "a", "b")
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "a,b,a,a,b", spans: 2})))
	require.NoError(t, exp.Shutdown(context.Background()))
	for name, b := range backends {
		assert.Len(t, b.receivedResources(), 1, name)
		assert.Equal(t, 2, b.spanCount(), name)
		assert.Equal(t, int64(2), counter(t, tel, metricRouted, "destination", name), name)
	}
	assert.Zero(t, counter(t, tel, metricDropped))
}

// A resource without a route, with an empty one, or with only the old
// trace_config.destination stamp, is dropped as unrouted; nothing is sent.
func TestMissingOrEmptyRouteIsUnrouted(t *testing.T) {
	backends, exp, tel := routeBackends(t, "a")
	td := newTraces(resourceSpec{spans: 2}, resourceSpec{to: ",", spans: 3})
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(route.Attribute, "")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	rs = td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("trace_config.destination", "a")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()

	require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, int64(2+3+1+1), counter(t, tel, metricDropped, "reason", "unrouted"))
	assert.Zero(t, counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Zero(t, counter(t, tel, metricRouted))
	assert.Zero(t, backends["a"].requestCount())
}

// One batch of resources with different routes: each destination gets the
// resources whose route names it, in one request, and every drop is counted
// under its reason.
func TestMixedRoutesInOneBatch(t *testing.T) {
	backends, exp, tel := routeBackends(t, "a", "b", "c")
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
		resourceSpec{to: "a", spans: 1},
		resourceSpec{to: "b,c", spans: 2},
		resourceSpec{to: "c,ghost", spans: 4},
		resourceSpec{spans: 8},
		resourceSpec{to: "ghost,phantom", spans: 16},
		resourceSpec{to: "c,b,a", spans: 32},
	)))
	require.NoError(t, exp.Shutdown(context.Background()))

	for name, want := range map[string]struct{ resources, spans int }{
		"a": {2, 1 + 32},
		"b": {2, 2 + 32},
		"c": {3, 2 + 4 + 32},
	} {
		b := backends[name]
		assert.Equal(t, 1, b.requestCount(), name)
		assert.Len(t, b.receivedResources(), want.resources, name)
		assert.Equal(t, want.spans, b.spanCount(), name)
		assert.Equal(t, int64(want.spans), counter(t, tel, metricRouted, "destination", name), name)
	}
	assert.Equal(t, int64(4+2*16), counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Equal(t, int64(8), counter(t, tel, metricDropped, "reason", "unrouted"))
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
			resourceSpec{to: "blocked", spans: spansPer},
			resourceSpec{to: "other", spans: spansPer},
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
			newTraces(resourceSpec{to: "blocked", spans: 1})))
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
