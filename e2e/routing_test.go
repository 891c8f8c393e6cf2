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

	raw := `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`
	encoded := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor","audit"]}`))
	postTraces(t, client, makeTraces(1, 10), map[string]string{"cf-trace-config": raw})
	postTraces(t, client, makeTraces(2, 7), map[string]string{"Cf-Trace-Config": encoded})
	postTraces(t, client, makeTraces(3, 5), nil) // no routing: dropped, as the producer side does

	require.Eventually(t, func() bool {
		return backends["tempo"].Spans() == 10 && backends["vendor"].Spans() == 7 && backends["audit"].Spans() == 7
	}, 20*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // a misrouted batch would arrive now
	assert.EqualValues(t, 10, backends["tempo"].Spans())
	assert.EqualValues(t, 7, backends["vendor"].Spans())
	assert.EqualValues(t, 7, backends["audit"].Spans())

	for _, r := range backends["tempo"].Records() {
		assert.Equal(t, byte(1), r.TraceID[0], "tempo got a span of another request")
	}
	assert.Equal(t, map[string]int64{"a1": 10}, backends["tempo"].AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"z1": 10}, backends["tempo"].AttributeCounts("trace_config.zone"))
	assert.Equal(t, map[string]int64{"w1": 10}, backends["tempo"].AttributeCounts("trace_config.workspace"))
	assert.Equal(t, map[string]int64{"": 10}, backends["tempo"].AttributeCounts("trace_config.destination"),
		"the route attribute is removed before sending")
	for _, name := range []string{"vendor", "audit"} {
		for _, r := range backends[name].Records() {
			assert.Equal(t, byte(2), r.TraceID[0], "%s got a span of another request", name)
		}
		assert.Equal(t, map[string]int64{"a2": 7}, backends[name].AttributeCounts("trace_config.account"))
	}
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_processor_trace_routing_spans_dropped", map[string]string{"reason": "missing"}) == 5
	}, 10*time.Second, 50*time.Millisecond, "the request without a trace config is counted as dropped")

	// The vendor backend goes away; tempo and audit still get everything.
	backends["vendor"].Close()
	both := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a3","destinations":["tempo","vendor","audit"]}`))
	for i := 0; i < 5; i++ {
		postTraces(t, client, makeTraces(byte(10+i), 10), map[string]string{"cf-trace-config": both})
	}
	require.Eventually(t, func() bool {
		return backends["tempo"].Spans() == 60 && backends["audit"].Spans() == 57
	}, 5*time.Second, 50*time.Millisecond, "healthy destinations keep receiving while one is down")
	assert.EqualValues(t, 7, backends["vendor"].Spans())
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_exporter_destinations_spans_lost", map[string]string{"destination": "vendor"}) == 50
	}, 20*time.Second, 100*time.Millisecond, "what the down destination loses is counted")
}
