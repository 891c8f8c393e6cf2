package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
)

// dest is one backend the pipeline exports to.
type dest struct {
	Name string
	URL  string
	// RetryMaxElapsed bounds the exporter's retries (0: retry forever);
	// NoRetry turns them off.
	NoRetry         bool
	RetryMaxElapsed time.Duration
	// QueueSize is the sending queue size in requests (0: the default).
	QueueSize int
	Timeout   time.Duration
}

// pipelineSpec describes the collector config of one run.
type pipelineSpec struct {
	Baseline bool
	Socket   string
	// MemLimitMiB and SpikeMiB configure memory_limiter (0: none in the
	// baseline; a generous default in tracebound, as in DESIGN.md's data
	// path).
	MemLimitMiB, SpikeMiB int
	// Lifecycle adds lifecycle_identity with split.max_spans = MaxSpans.
	Lifecycle bool
	MaxSpans  int
	// Routing adds trace_routing and exports through destinations, one per
	// Dests entry; otherwise every Dests entry gets its own otlp_http
	// exporter and receives every span.
	Routing bool
	Dests   []dest
}

// config renders the collector YAML, with self-telemetry on metricsPort.
func (p pipelineSpec) config(otlphttp string, metricsPort int) (string, []string) {
	var b strings.Builder
	var procs, exps, recv []string
	b.WriteString("receivers:\n")
	if p.Baseline {
		fmt.Fprintf(&b, "  otlp:\n    protocols:\n      http:\n        transport: unix\n        endpoint: %s\n", p.Socket)
		recv = []string{"otlp"}
	} else {
		fmt.Fprintf(&b, "  otlpuds:\n    endpoint: %s\n", p.Socket)
		recv = []string{"otlpuds"}
	}

	b.WriteString("processors:\n")
	limit, spike := p.MemLimitMiB, p.SpikeMiB
	if limit == 0 && !p.Baseline {
		limit, spike = 4096, 1024
	}
	if limit > 0 {
		fmt.Fprintf(&b, "  memory_limiter:\n    check_interval: 100ms\n    limit_mib: %d\n    spike_limit_mib: %d\n", limit, spike)
		procs = append(procs, "memory_limiter")
	}
	if p.Lifecycle {
		fmt.Fprintf(&b, "  lifecycle_identity:\n    split:\n      max_spans: %d\n", p.MaxSpans)
		procs = append(procs, "lifecycle_identity")
	}
	if p.Routing {
		b.WriteString("  trace_routing: {}\n")
		procs = append(procs, "trace_routing")
	}
	b.WriteString("  batch: {}\n")
	procs = append(procs, "batch")

	b.WriteString("exporters:\n")
	if p.Routing {
		b.WriteString("  destinations:\n    destinations:\n")
		for _, d := range p.Dests {
			fmt.Fprintf(&b, "      %s:\n", d.Name)
			writeOTLPHTTP(&b, d, "        ")
		}
		exps = []string{"destinations"}
	} else {
		for _, d := range p.Dests {
			id := otlphttp
			if len(p.Dests) > 1 {
				id = fmt.Sprintf("%s/%s", otlphttp, d.Name)
			}
			fmt.Fprintf(&b, "  %s:\n", id)
			writeOTLPHTTP(&b, d, "    ")
			exps = append(exps, id)
		}
	}

	b.WriteString("service:\n  pipelines:\n    traces:\n")
	fmt.Fprintf(&b, "      receivers: [%s]\n", strings.Join(recv, ", "))
	fmt.Fprintf(&b, "      processors: [%s]\n", strings.Join(procs, ", "))
	fmt.Fprintf(&b, "      exporters: [%s]\n", strings.Join(exps, ", "))
	b.WriteString(collector.TelemetryYAML(metricsPort))
	return b.String(), append(append(recv, procs...), exps...)
}

// writeOTLPHTTP writes the keys of one otlphttp exporter config. Compression
// is off on both pipelines so the backend, which shares the machine, costs
// little.
func writeOTLPHTTP(b *strings.Builder, d dest, in string) {
	fmt.Fprintf(b, "%sendpoint: %s\n%scompression: none\n", in, d.URL, in)
	if d.Timeout > 0 {
		fmt.Fprintf(b, "%stimeout: %s\n", in, d.Timeout)
	}
	if d.NoRetry {
		fmt.Fprintf(b, "%sretry_on_failure:\n%s  enabled: false\n", in, in)
	} else {
		fmt.Fprintf(b, "%sretry_on_failure:\n%s  enabled: true\n%s  initial_interval: 100ms\n%s  max_interval: 1s\n%s  max_elapsed_time: %s\n",
			in, in, in, in, in, d.RetryMaxElapsed)
	}
	if d.QueueSize > 0 {
		fmt.Fprintf(b, "%ssending_queue:\n%s  queue_size: %d\n", in, in, d.QueueSize)
	}
}
