package scenario

import (
	"fmt"
	"strings"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

// attrTraceConfig is the resource attribute trace_routing reads before the
// header (DESIGN.md, Reading the trace config); the agent writes the
// header's value into it.
const attrTraceConfig = "trace.config"

// agentConfig renders the load-balancing agent's config: apps post
// OTLP/HTTP on its Unix socket; the resource processor copies the trace
// config header of each request (kept by include_metadata) into the
// trace.config resource attribute, since the loadbalancing exporter
// forwards no client metadata; batch; then loadbalancing, keyed on trace
// ID, over a static list of replicas speaking OTLP/gRPC.
//
// Both queues of the exporter run one consumer, so each replica receives a
// trace's spans in the order the agent received them, as a single
// collector would: the scenario compares the segments with one replica's,
// and the default ten consumers would reorder requests.
func agentConfig(spec pipelineSpec, replicas []string, metricsPort int) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  otlp:
    protocols:
      http:
        transport: unix
        endpoint: %s
        include_metadata: true
processors:
  resource:
    attributes:
      - key: %s
        from_context: metadata.%s
        action: insert
  batch: {}
exporters:
  load_balancing:
    routing_key: traceID
    sending_queue:
      num_consumers: 1
    protocol:
      otlp:
        compression: none
        tls:
          insecure: true
        sending_queue:
          num_consumers: 1
        retry_on_failure:
          enabled: true
          initial_interval: 100ms
          max_interval: 1s
          max_elapsed_time: 0s
    resolver:
      static:
        hostnames: %s
`, spec.Socket, attrTraceConfig, loadgen.DefaultHeader, yamlList(replicas))
	if spec.PprofPort > 0 {
		fmt.Fprintf(&b, "extensions:\n  pprof:\n    endpoint: 127.0.0.1:%d\n", spec.PprofPort)
	}
	b.WriteString("service:\n")
	if spec.PprofPort > 0 {
		b.WriteString("  extensions: [pprof]\n")
	}
	b.WriteString(`  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, batch]
      exporters: [load_balancing]
`)
	b.WriteString(collector.TelemetryYAML(metricsPort))
	return b.String(), []string{"otlp", "resource", "batch", "load_balancing"}
}

// agentNeeds are the components the agent binary must hold.
var agentNeeds = []need{{"receivers", "otlp"}, {"processors", "resource"}, {"processors", "batch"}, {"exporters", "load_balancing"}}
