package jaeger

import (
	"fmt"

	"github.com/tracebound/tracebound/testbed/collector"
)

// config is Jaeger's all-in-one config: OTLP/HTTP in, the in-memory store,
// the query API (HTTP and gRPC), its own metrics for the testbed to read how
// much it stored, all on loopback ports. The storage exporter has no queue
// (its default), so a span its metrics count as sent is in the store; the
// query service traces nothing of its own, so every trace in the store is
// one the testbed sent.
func config(p ports) string {
	return fmt.Sprintf(`extensions:
  jaeger_storage:
    backends:
      %[1]s:
        memory:
          max_traces: %[2]d
  jaeger_query:
    storage:
      traces: %[1]s
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:%[3]d
    grpc:
      endpoint: 127.0.0.1:%[4]d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%[5]d
exporters:
  jaeger_storage_exporter:
    trace_storage: %[1]s
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
%[6]s`, storeName, MaxTraces, p.queryHTTP, p.queryGRPC, p.otlp, collector.TelemetryYAML(p.metrics))
}
