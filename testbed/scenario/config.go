package scenario

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
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
	// OTLPGRPC, when set, makes the collector receive OTLP/gRPC on this
	// address (host:port) with the stock otlp receiver instead of on
	// Socket: a gateway replica behind the load-balancing agent, whose
	// exporter speaks OTLP/gRPC.
	OTLPGRPC string
	// MemLimitMiB and SpikeMiB configure memory_limiter on either pipeline
	// (0: defaultMemLimitMiB and defaultSpikeMiB).
	MemLimitMiB, SpikeMiB int
	// Lifecycle adds lifecycle_identity with split.max_spans = MaxSpans.
	Lifecycle bool
	MaxSpans  int
	// Routing adds trace_routing and exports through destinations, one per
	// Dests entry; otherwise every Dests entry gets its own otlp_http
	// exporter and receives every span.
	Routing bool
	Dests   []dest
	// Routes is trace_routing's routes table (Routing only).
	Routes []routeSpec
	// RequestLimitMiB, when set, is otlpuds' admission::request_limit_mib
	// (tracebound only; the stock receiver has no such bound).
	RequestLimitMiB int
	// PprofPort, when set, adds the pprof extension on 127.0.0.1:PprofPort
	// (the testbed's -heap-profiles).
	PprofPort int
}

// defaultMemLimitMiB and defaultSpikeMiB are memory_limiter's settings when
// a scenario names none: generous, as in DESIGN.md's data path, and the same
// on both pipelines, so neither is compared with a component the other
// lacks (issue 11 compares their memory).
const (
	defaultMemLimitMiB = 4096
	defaultSpikeMiB    = 1024
)

// routeSpec is one entry of trace_routing's routes: every condition of
// Match must hold, first matching route wins.
type routeSpec struct {
	Match        []condition
	Destinations []string
}

// condition is one key of a route's match: the field holds one of Values
// (one value: exactly it), or, with the single value "*", any value.
type condition struct {
	Field  string
	Values []string
}

// holds reports whether the condition holds for a field's value as the
// collector reads it ("" when absent).
func (c condition) holds(value string) bool {
	if value == "" {
		return false
	}
	return slices.Equal(c.Values, []string{"*"}) || slices.Contains(c.Values, value)
}

// routeOf is what trace_routing decides for a trace config, as DESIGN.md
// says: the producer's destinations, else the first route whose every
// condition holds, else none (on_unrouted: drop).
func routeOf(routes []routeSpec, tc loadgen.TraceConfig) []string {
	if len(tc.Destinations) > 0 {
		return tc.Destinations
	}
	fields := map[string]string{"account": tc.Account, "zone": tc.Zone, "workspace": tc.Workspace}
	for _, r := range routes {
		if !slices.ContainsFunc(r.Match, func(c condition) bool { return !c.holds(fields[c.Field]) }) {
			return r.Destinations
		}
	}
	return nil
}

// yamlList renders names as a YAML flow list of quoted strings.
func yamlList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// config renders the collector YAML, with self-telemetry on metricsPort.
func (p pipelineSpec) config(otlphttp string, metricsPort int) (string, []string) {
	var b strings.Builder
	var procs, exps, recv []string
	b.WriteString("receivers:\n")
	switch {
	case p.OTLPGRPC != "":
		fmt.Fprintf(&b, "  otlp:\n    protocols:\n      grpc:\n        endpoint: %s\n", p.OTLPGRPC)
		recv = []string{"otlp"}
	case p.Baseline:
		fmt.Fprintf(&b, "  otlp:\n    protocols:\n      http:\n        transport: unix\n        endpoint: %s\n", p.Socket)
		recv = []string{"otlp"}
	default:
		fmt.Fprintf(&b, "  otlpuds:\n    endpoint: %s\n", p.Socket)
		if p.RequestLimitMiB > 0 {
			fmt.Fprintf(&b, "    admission:\n      request_limit_mib: %d\n", p.RequestLimitMiB)
		}
		recv = []string{"otlpuds"}
	}

	b.WriteString("processors:\n")
	limit, spike := p.MemLimitMiB, p.SpikeMiB
	if limit == 0 {
		limit, spike = defaultMemLimitMiB, defaultSpikeMiB
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
		if len(p.Routes) == 0 {
			b.WriteString("  trace_routing: {}\n")
		} else {
			b.WriteString("  trace_routing:\n    routes:\n")
		}
		for _, r := range p.Routes {
			var match []string
			for _, c := range r.Match {
				v := yamlList(c.Values)
				if len(c.Values) == 1 {
					v = strconv.Quote(c.Values[0])
				}
				match = append(match, c.Field+": "+v)
			}
			fmt.Fprintf(&b, "      - match: {%s}\n        destinations: %s\n", strings.Join(match, ", "), yamlList(r.Destinations))
		}
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

	if p.PprofPort > 0 {
		fmt.Fprintf(&b, "extensions:\n  pprof:\n    endpoint: 127.0.0.1:%d\n", p.PprofPort)
	}
	b.WriteString("service:\n")
	if p.PprofPort > 0 {
		b.WriteString("  extensions: [pprof]\n")
	}
	b.WriteString("  pipelines:\n    traces:\n")
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
