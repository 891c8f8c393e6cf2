package traceroutingprocessor

import (
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadatatest"
)

const benchSpansPerRequest = 1000

// benchRequest builds a request of benchSpansPerRequest spans spread over
// resources, each resource with a few attributes, as producers send them.
func benchRequest(b *testing.B, resources int) ptrace.Traces {
	rs := make([]res, resources)
	for i := range rs {
		rs[i] = res{
			service: fmt.Sprintf("svc-%d", i),
			spans:   benchSpansPerRequest / resources,
			attrs: map[string]any{
				"host.name": "node-1", "process.pid": int64(4242), "component.name": "worker",
				"footprint.identifier": "fp-1", "footprint.revision": int64(7),
			},
		}
	}
	return makeTraces(b, rs...)
}

// benchmarkRouting runs whole requests through the processor, built by its
// factory with a real metric SDK, in front of a no-op consumer. Requests are
// fresh copies of a template, made outside the timer (the processor stamps
// and merges in place, so a reused request would measure another path), in
// chunks followed by a GC, so the collection of the copies' garbage is not
// charged to the processor. Chunks are small: a request reaches the
// processor just decoded, still in the CPU's caches, and so do these.
func benchmarkRouting(b *testing.B, cfg *Config, header string, template ptrace.Traces) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(b, tel.Shutdown(context.Background())) }()
	require.NoError(b, cfg.Validate())
	proc, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, proc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, proc.Shutdown(context.Background())) }()

	const chunk = 8
	ctx := withHeader("Cf-Trace-Config", header)
	spans := template.SpanCount()
	requests := make([]ptrace.Traces, chunk)
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		b.StopTimer()
		n := min(chunk, b.N-i)
		for j := range n {
			requests[j] = ptrace.NewTraces()
			template.CopyTo(requests[j])
		}
		runtime.GC()
		before := processCPU(b)
		b.StartTimer()
		for _, td := range requests[:n] {
			if err := proc.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cpu += processCPU(b) - before
		b.StartTimer()
		i += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	// CPU time of the whole process while requests ran (GC included): on a
	// shared machine, wall time also counts time other processes took.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*spans), "cpu-ns/span")
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSingleDestination: 1000 spans over 1, 10 or 100 resources, the
// producer naming one destination.
func BenchmarkSingleDestination(b *testing.B) {
	for _, resources := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("resources=%d", resources), func(b *testing.B) {
			benchmarkRouting(b, createDefaultConfig().(*Config), configFor("tempo"), benchRequest(b, resources))
		})
	}
}

// BenchmarkThreeDestinations: the route names three destinations; the
// resource still leaves once (destinations makes the copies).
func BenchmarkThreeDestinations(b *testing.B) {
	benchmarkRouting(b, createDefaultConfig().(*Config), configFor("tempo", "vendor", "archive"), benchRequest(b, 10))
}

// twentyRoutes is a routes table of 20 rules whose last one matches
// accountId 42: the worst case of first-match-wins.
func twentyRoutes() []RouteConfig {
	routes := make([]RouteConfig, 0, 20)
	for i := range 19 {
		routes = append(routes, RouteConfig{
			Match:        map[string]any{"account": fmt.Sprint(1000 + i), "zone": "*"},
			Destinations: []string{fmt.Sprintf("tenant-%d", i)},
		})
	}
	return append(routes, RouteConfig{Match: map[string]any{"account": []any{"7", "42"}, "zone": "*"}, Destinations: []string{"tempo"}})
}

// BenchmarkFoundationsRequest is the target of issue 10: at most 50 ns per
// span in trace_routing for a single-destination request of 512 spans, each
// in its own ResourceSpans, routed by a 20-rule table from a camelCase,
// numeric header.
func BenchmarkFoundationsRequest(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.Routes = twentyRoutes()
	benchmarkRouting(b, cfg, foundationsHeader, oneSpanResources(512, nil))
}

// foundationsHeader is the shape foundations' own tests send.
const foundationsHeader = `{"zoneId":12345,"accountId":42}`

// BenchmarkDecode is the once-per-request cost of reading a header.
func BenchmarkDecode(b *testing.B) {
	d := newDecoder(createDefaultConfig().(*Config))
	for name, header := range map[string]string{
		"json-numbers": foundationsHeader,
		"kv":           "zone=12345;account=42",
		"base64":       base64.StdEncoding.EncodeToString([]byte(foundationsHeader)),
		"destinations": configFor("tempo", "vendor"),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.decode(header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
