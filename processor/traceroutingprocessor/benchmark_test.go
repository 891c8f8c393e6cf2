package traceroutingprocessor

import (
	"context"
	"fmt"
	"testing"

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
// factory with a real metric SDK, in front of a no-op consumer. Each
// iteration gets a fresh copy of a template, made outside the timer: the
// processor stamps (and, with fan-out, moves) resources in place, so a reused
// request would already carry its stamps and measure a cheaper overwrite.
func benchmarkRouting(b *testing.B, resources int, destinations ...string) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(b, tel.Shutdown(context.Background())) }()
	proc, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, proc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, proc.Shutdown(context.Background())) }()

	ctx := withHeader("Cf-Trace-Config", configFor(destinations...))
	template := benchRequest(b, resources)

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		template.CopyTo(td)
		b.StartTimer()
		if err := proc.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSpansPerRequest), "ns/span")
}

// BenchmarkSingleDestination is the target of DESIGN.md: at most 150 ns per
// span for single-destination requests of 1000 spans.
func BenchmarkSingleDestination(b *testing.B) {
	for _, resources := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("resources=%d", resources), func(b *testing.B) {
			benchmarkRouting(b, resources, "tempo")
		})
	}
}

// BenchmarkFanOut3 copies each resource twice and moves it once.
func BenchmarkFanOut3(b *testing.B) {
	for _, resources := range []int{1, 10} {
		b.Run(fmt.Sprintf("resources=%d", resources), func(b *testing.B) {
			benchmarkRouting(b, resources, "tempo", "vendor", "archive")
		})
	}
}

// BenchmarkParseTraceConfig is the once-per-request header cost.
func BenchmarkParseTraceConfig(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseTraceConfig(sampleConfig); err != nil {
			b.Fatal(err)
		}
	}
}
