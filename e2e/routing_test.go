package e2e

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func routingConfig(socketPath string, metricsPort int, backends map[string]*otlpBackend) string {
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
service:%s
  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [trace_routing, batch]
      exporters: [destinations]
`, socketPath, dests, telemetryConfig(metricsPort))
}

// Requests over one socket with different trace config headers reach exactly
// the destinations they name; a request without one is dropped and counted;
// a destination that goes down changes nothing for the others.
func TestRoutingByTraceConfigHeader(t *testing.T) {
	backends := map[string]*otlpBackend{
		"tempo":  newOTLPBackend(t),
		"vendor": newOTLPBackend(t),
		"audit":  newOTLPBackend(t),
	}
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	metricsPort := freePort(t)
	startCollector(t, writeConfig(t, dir, routingConfig(socket, metricsPort, backends)), socket)
	client := udsClient(socket)

	raw := `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`
	encoded := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor","audit"]}`))
	postTraces(t, client, makeTraces(1, 10), map[string]string{"cf-trace-config": raw})
	postTraces(t, client, makeTraces(2, 7), map[string]string{"Cf-Trace-Config": encoded})
	postTraces(t, client, makeTraces(3, 5), nil) // no routing: dropped, as the producer side does

	require.Eventually(t, func() bool {
		return backends["tempo"].spanCount() == 10 && backends["vendor"].spanCount() == 7 && backends["audit"].spanCount() == 7
	}, 20*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // a misrouted batch would arrive now
	assert.Equal(t, 10, backends["tempo"].spanCount())
	assert.Equal(t, 7, backends["vendor"].spanCount())
	assert.Equal(t, 7, backends["audit"].spanCount())

	for _, s := range backends["tempo"].spans() {
		assert.Equal(t, byte(1), s.span.TraceID()[0])
		assert.Equal(t, "a1", s.resource["trace_config.account"])
		assert.Equal(t, "z1", s.resource["trace_config.zone"])
		assert.Equal(t, "w1", s.resource["trace_config.workspace"])
		assert.NotContains(t, s.resource, "trace_config.destination", "the route attribute is removed before sending")
	}
	for _, name := range []string{"vendor", "audit"} {
		for _, s := range backends[name].spans() {
			assert.Equal(t, byte(2), s.span.TraceID()[0])
			assert.Equal(t, "a2", s.resource["trace_config.account"])
		}
	}

	require.Eventually(t, func() bool {
		return selfMetric(t, metricsPort, "otelcol_processor_trace_routing_spans_dropped", `reason="missing"`) == 5
	}, 10*time.Second, 50*time.Millisecond, "the request without a trace config is counted as dropped")

	// The vendor backend goes away; tempo and audit still get everything.
	backends["vendor"].Close()
	both := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a3","destinations":["tempo","vendor","audit"]}`))
	for i := 0; i < 5; i++ {
		postTraces(t, client, makeTraces(byte(10+i), 10), map[string]string{"cf-trace-config": both})
	}
	require.Eventually(t, func() bool {
		return backends["tempo"].spanCount() == 60 && backends["audit"].spanCount() == 57
	}, 5*time.Second, 50*time.Millisecond, "healthy destinations keep receiving while one is down")
	assert.Equal(t, 7, backends["vendor"].spanCount())
	require.Eventually(t, func() bool {
		return selfMetric(t, metricsPort, "otelcol_exporter_destinations_spans_lost", `destination="vendor"`) == 50
	}, 20*time.Second, 100*time.Millisecond, "what the down destination loses is counted")
}
