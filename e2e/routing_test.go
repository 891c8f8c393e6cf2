package e2e

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
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
// the destinations they name; a request without one is dropped and counted;
// a destination that goes down changes nothing for the others.
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

	checkRoutingAcrossBackends(t, client, p, backends, 5*time.Second)
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_exporter_destinations_spans_lost", map[string]string{"destination": "vendor"}) == 50
	}, 20*time.Second, 100*time.Millisecond, "what the down destination loses is counted")
}

// checkRoutingAcrossBackends is the routing scenario TestRoutingByTraceConfigHeader
// and TestGatewayConfig share, against a collector p that routes by trace
// config header to the backends "tempo", "vendor" and "audit" and receives
// on client's socket. A request naming tempo in a raw JSON header, one naming
// vendor and audit in a base64 one and one without a header are sent: each
// backend gets exactly the spans of the requests naming it, with the trace
// config's identity stamped and the route attribute removed, and the
// request without a header is dropped and counted. Then vendor is closed
// and five requests naming all three are sent: tempo and audit must receive
// them in full within downWithin, vendor nothing more. What the collector
// then counts for vendor is left to the caller.
func checkRoutingAcrossBackends(t *testing.T, client *loadgen.Client, p *collector.Process, backends map[string]*mockbackend.Backend, downWithin time.Duration) {
	t.Helper()
	raw := `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`
	encoded := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor","audit"]}`))
	postTraces(t, client, makeTraces(1, 10), map[string]string{"cf-trace-config": raw})
	postTraces(t, client, makeTraces(2, 7), map[string]string{"Cf-Trace-Config": encoded})
	postTraces(t, client, makeTraces(3, 5), nil) // no trace config: dropped and counted, as the producer side does

	want := map[string]int64{"tempo": 10, "vendor": 7, "audit": 7}
	require.Eventually(t, func() bool {
		for name, n := range want {
			if backends[name].Spans() != n {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "each backend receives the requests that name it")
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_processor_trace_routing_spans_dropped", map[string]string{"reason": "missing"}) == 5
	}, 10*time.Second, 50*time.Millisecond, "the request without a trace config is dropped and counted")
	time.Sleep(500 * time.Millisecond) // a misrouted batch would arrive by now
	for name, n := range want {
		assert.EqualValues(t, n, backends[name].Spans(), "%s got spans it was not named for", name)
	}

	for _, r := range backends["tempo"].Records() {
		assert.Equal(t, byte(1), r.TraceID[0], "tempo got a span of another request")
	}
	assert.Equal(t, map[string]int64{"a1": 10}, backends["tempo"].AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"z1": 10}, backends["tempo"].AttributeCounts("trace_config.zone"))
	assert.Equal(t, map[string]int64{"w1": 10}, backends["tempo"].AttributeCounts("trace_config.workspace"))
	for _, name := range []string{"vendor", "audit"} {
		for _, r := range backends[name].Records() {
			assert.Equal(t, byte(2), r.TraceID[0], "%s got a span of another request", name)
		}
		assert.Equal(t, map[string]int64{"a2": 7}, backends[name].AttributeCounts("trace_config.account"))
	}
	for name, n := range want {
		assert.Equal(t, map[string]int64{"": n}, backends[name].AttributeCounts("trace_config.destination"),
			"%s: the route attribute is removed before sending", name)
	}

	// The vendor backend goes away. Requests naming all three keep reaching
	// tempo and audit in full: vendor fails (or retries) alone.
	require.NoError(t, backends["vendor"].Close())
	all := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a3","destinations":["tempo","vendor","audit"]}`))
	sent := time.Now()
	for i := range 5 {
		postTraces(t, client, makeTraces(byte(10+i), 10), map[string]string{"cf-trace-config": all})
	}
	require.Eventually(t, func() bool {
		return backends["tempo"].Spans() == 60 && backends["audit"].Spans() == 57
	}, downWithin, 20*time.Millisecond, "tempo and audit keep receiving everything while vendor is down")
	t.Logf("tempo and audit received all 50 spans %s after the first send", time.Since(sent).Round(time.Millisecond))
	assert.EqualValues(t, 7, backends["vendor"].Spans())
	assert.Equal(t, map[string]int64{"a1": 10, "a3": 50}, backends["tempo"].AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"a2": 7, "a3": 50}, backends["audit"].AttributeCounts("trace_config.account"))
}
