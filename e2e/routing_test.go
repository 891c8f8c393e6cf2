package e2e

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

func routingConfig(socketPath string, metricsPort int, backends map[string]*mockbackend.Backend) string {
	dests := ""
	for name, b := range backends {
		dests += fmt.Sprintf("      %s:\n        endpoint: %s\n        retry_on_failure:\n          enabled: false\n", name, b.URL)
	}
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
processors:
  trace_routing: {}
  batch:
    timeout: 100ms
exporters:
  destinations:
    destinations:
%s
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [trace_routing, batch]
      exporters: [destinations]
`, socketPath, dests, collector.TelemetryYAML(metricsPort))
}

// Requests over one socket with different trace config headers reach exactly
// the destinations they name; requests without one, or naming none (the
// default config has no routes), are dropped and counted; a destination
// that goes down changes nothing for the others.
func TestRoutingByTraceConfigHeader(t *testing.T) {
	backends := map[string]*mockbackend.Backend{
		"tempo":  newBackend(t, "tempo"),
		"vendor": newBackend(t, "vendor"),
		"audit":  newBackend(t, "audit"),
	}
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return routingConfig(socket, port, backends) })
	p := startCollector(t, cfg, metricsPort, socket)
	client := udsClient(t, socket)

	before := []routedRequest{
		{header: `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`, traceID: 1, spans: 10, to: []string{"tempo"},
			stamps: map[string]string{"account": "a1", "zone": "z1", "workspace": "w1"}},
		{header: base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor","audit"]}`)),
			traceID: 2, spans: 7, to: []string{"vendor", "audit"}, stamps: map[string]string{"account": "a2", "zone": "z2", "workspace": "w2"}},
		{header: "account=a4;destinations=tempo|audit", traceID: 4, spans: 3, to: []string{"tempo", "audit"},
			stamps: map[string]string{"account": "a4"}},
		{traceID: 3, spans: 5, reason: "missing"},
		{header: `{"account":"a5"}`, traceID: 5, spans: 4, reason: "unrouted"}, // no routes in the default config
	}
	var whileDown []routedRequest
	for i := range 5 {
		whileDown = append(whileDown, routedRequest{header: `{"account":"a3","destinations":["tempo","vendor","audit"]}`,
			traceID: byte(10 + i), spans: 10, to: []string{"tempo", "vendor", "audit"}, stamps: map[string]string{"account": "a3"}})
	}
	checkRoutingAcrossBackends(t, client, p, backends, before, whileDown, 5*time.Second)
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_exporter_destinations_spans_lost", map[string]string{"destination": "vendor"}) == 50
	}, 20*time.Second, 100*time.Millisecond, "what the down destination loses is counted")
}

// routedRequest is one request of a routing scenario and where it must land.
type routedRequest struct {
	header  string // the cf-trace-config header; "" sends none
	traceID byte   // the request is makeTraces(traceID, spans)
	spans   int
	// to are the destinations that must receive the request, each once;
	// none: it is dropped, and counted under reason.
	to     []string
	reason string
	// stamps are the trace_config.<field> resource attributes it must
	// arrive with (field -> value); every other field must be absent.
	stamps map[string]string
}

// checkRoutingAcrossBackends is the routing scenario TestRoutingByTraceConfigHeader
// and TestGatewayConfig share, against a collector p that routes by trace
// config header to the backends "tempo", "vendor" and "audit" and receives
// on client's socket. The requests of before are sent: each backend gets
// exactly the spans of the requests routed to it, with their trace config
// stamped and without the route attribute, and the dropped ones are counted
// by reason. Then vendor is closed and the requests of whileDown are sent:
// the other backends must receive their share in full within downWithin,
// vendor nothing more. What the collector then counts for vendor is left to
// the caller.
func checkRoutingAcrossBackends(t *testing.T, client *loadgen.Client, p *collector.Process, backends map[string]*mockbackend.Backend,
	before, whileDown []routedRequest, downWithin time.Duration) {
	t.Helper()
	send := func(reqs []routedRequest) {
		for _, r := range reqs {
			var h map[string]string
			if r.header != "" {
				h = map[string]string{"cf-trace-config": r.header}
			}
			postTraces(t, client, makeTraces(r.traceID, r.spans), h)
		}
	}

	send(before)
	want := routedSpans(before, backends)
	require.Eventually(t, func() bool {
		for name, n := range want {
			if backends[name].Spans() != n {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "each backend receives the requests routed to it")
	dropped := map[string]float64{}
	for _, r := range before {
		if len(r.to) == 0 {
			dropped[r.reason] += float64(r.spans)
		}
	}
	for reason, n := range dropped {
		require.Eventually(t, func() bool {
			return selfMetric(t, p, "otelcol_processor_trace_routing_spans_dropped", map[string]string{"reason": reason}) == n
		}, 10*time.Second, 50*time.Millisecond, "%v spans dropped and counted as %s", n, reason)
	}
	time.Sleep(500 * time.Millisecond) // a misrouted batch would arrive by now
	checkRouted(t, backends, before)

	// The vendor backend goes away. Requests routed to it and others keep
	// reaching the others in full: vendor fails (or retries) alone.
	require.NoError(t, backends["vendor"].Close())
	sent := time.Now()
	send(whileDown)
	all := append(slices.Clone(before), whileDown...)
	want = routedSpans(all, backends)
	want["vendor"] = routedSpans(before, backends)["vendor"]
	require.Eventually(t, func() bool {
		for name, n := range want {
			if name != "vendor" && backends[name].Spans() != n {
				return false
			}
		}
		return true
	}, downWithin, 20*time.Millisecond, "the other backends keep receiving everything while vendor is down")
	t.Logf("the others received everything %s after the first send while vendor was down", time.Since(sent).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, want["vendor"], backends["vendor"].Spans(), "vendor, closed, received nothing more")
	checkRouted(t, backends, all, "vendor")
}

// routedSpans is how many spans of reqs each backend must receive.
func routedSpans(reqs []routedRequest, backends map[string]*mockbackend.Backend) map[string]int64 {
	want := map[string]int64{}
	for name := range backends {
		want[name] = 0
	}
	for _, r := range reqs {
		for _, d := range r.to {
			want[d] += int64(r.spans)
		}
	}
	return want
}

// checkRouted checks what each backend (but those of skip) received against
// reqs: the spans of exactly the requests routed to it, each request's
// trace config stamped as trace_config.* on its resources, and never the
// route attribute.
func checkRouted(t *testing.T, backends map[string]*mockbackend.Backend, reqs []routedRequest, skip ...string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(backends)) {
		if slices.Contains(skip, name) {
			continue
		}
		b := backends[name]
		wantByRequest := map[byte]int{}
		wantStamps := map[string]map[string]int64{}
		for _, field := range []string{"account", "zone", "workspace"} {
			wantStamps[field] = map[string]int64{}
		}
		for _, r := range reqs {
			if !slices.Contains(r.to, name) {
				continue
			}
			wantByRequest[r.traceID] += r.spans
			for field, counts := range wantStamps {
				counts[r.stamps[field]] += int64(r.spans)
			}
		}
		gotByRequest := map[byte]int{}
		for _, rec := range b.Records() {
			gotByRequest[rec.TraceID[0]]++
		}
		assert.Equal(t, wantByRequest, gotByRequest, "%s: spans per request (by trace ID)", name)
		for field, counts := range wantStamps {
			assert.Equal(t, counts, b.AttributeCounts("trace_config."+field), "%s: spans per trace_config.%s", name, field)
		}
		assertNoRoute(t, b)
	}
}
