package collector

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP otelcol_receiver_accepted_spans_total Number of spans.
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{otel_scope_name="x",receiver="otlpuds",transport="http"} 1500
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 500
otelcol_exporter_destinations_spans_lost_total{destination="a \"b\"",reason="send_failed"} 7
otelcol_process_uptime 12.5 1700000000
target_info{service_name="otelcol"} 1
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("otelcol_receiver_accepted_spans", nil); got != 2000 {
		t.Errorf("sum = %v", got)
	}
	if got := m.Sum("otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlpuds"}); got != 1500 {
		t.Errorf("otlpuds = %v", got)
	}
	if got := m.Sum("otelcol_exporter_destinations_spans_lost", map[string]string{"destination": `a "b"`}); got != 7 {
		t.Errorf("escaped label = %v", got)
	}
	if got := m.Sum("otelcol_process_uptime", nil); got != 12.5 {
		t.Errorf("uptime = %v", got)
	}
	keys := m.WithPrefix("otelcol_receiver_")
	if keys[`otelcol_receiver_accepted_spans_total{receiver="otlpuds",transport="http"}`] != 1500 || len(keys) != 2 {
		t.Errorf("WithPrefix = %v", keys)
	}
}

func TestParseComponents(t *testing.T) {
	c, err := parseComponents([]byte(`buildinfo:
    command: otelcol-tracebound
receivers:
    - name: otlp
      module: go.opentelemetry.io/collector/receiver/otlpreceiver v0.165.0
    - name: otlpuds
processors:
    - name: batch
exporters:
    - name: otlp_http
connectors: []
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("receivers", "otlpuds") || !c.Has("processors", "batch") || c.Has("processors", "trace_routing") {
		t.Errorf("components %v", c)
	}
	if c.OTLPHTTPExporter() != "otlp_http" {
		t.Errorf("otlphttp exporter %q", c.OTLPHTTPExporter())
	}
}
