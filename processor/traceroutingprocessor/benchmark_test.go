package traceroutingprocessor

import (
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/sys/unix"

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
// factory with a real metric SDK, in front of a no-op consumer. Each request
// is decoded from the template's protobuf encoding right before it is
// consumed, as the receiver decodes one and hands it on: every string is an
// allocation of its own, as the receiver's decoder makes it, and the
// request is as warm in the CPU's caches as a just-decoded one. (A
// Traces.CopyTo copy would share the template's strings, so every key and
// value comparison would find equal pointers: about a fifth less time than
// a decoded request of the same shape.) The processor stamps and
// merges in place, so every request is a fresh one.
//
// Only ConsumeTraces is timed, by the benchmark itself: ns/op, ns/span and
// cpu-ns/span (the CPU time of the benchmark's thread, which other processes
// on a shared machine do not inflate) are its sums. The testing timer would
// read memory statistics on every start, emptying the runtime's allocation
// caches before each timed request, which no producer causes; B/op and
// allocs/op are measured around single requests beforehand instead.
// Automatic GC is off, so no collection runs during a timed request; the
// decoded requests' garbage is collected every gcEvery requests.
//
// (The harness before timed chunks of 8 requests copied, then collected:
// the collection and the later copies pushed the requests out of the
// caches, 61-105 ns per span where a just-copied request took about 40.)
func benchmarkRouting(b *testing.B, cfg *Config, header string, template ptrace.Traces) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(b, tel.Shutdown(context.Background())) }()
	require.NoError(b, cfg.Validate())
	proc, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, proc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, proc.Shutdown(context.Background())) }()

	ctx := withHeader("Cf-Trace-Config", header)
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(template)
	require.NoError(b, err)
	request := func() ptrace.Traces {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			b.Fatal(err)
		}
		return td
	}
	consume := func(td ptrace.Traces) {
		if err := proc.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	bytes, allocs := allocsPerRequest(request, consume)

	const gcEvery = 16
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadCPUCost(b)
	var wall, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%gcEvery == 0 {
			runtime.GC()
		}
		td := request()
		cpuBefore, start := threadCPU(b), time.Now()
		consume(td)
		wall += time.Since(start)
		cpu += threadCPU(b) - cpuBefore - clock
	}
	requests, spans := float64(b.N), float64(b.N*template.SpanCount())
	b.ReportMetric(float64(wall.Nanoseconds())/requests, "ns/op")
	b.ReportMetric(float64(wall.Nanoseconds())/spans, "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
	b.ReportMetric(bytes, "B/op")
	b.ReportMetric(allocs, "allocs/op")
}

// allocsPerRequest is what consume allocates per request, over a few
// requests, each consumed between two reads of the memory statistics.
func allocsPerRequest(request func() ptrace.Traces, consume func(ptrace.Traces)) (bytes, allocs float64) {
	const runs = 16
	for range runs { // the first requests fill caches: decisions, metric attribute sets
		consume(request())
	}
	var before, after runtime.MemStats
	for range runs {
		td := request()
		runtime.ReadMemStats(&before)
		consume(td)
		runtime.ReadMemStats(&after)
		bytes += float64(after.TotalAlloc - before.TotalAlloc)
		allocs += float64(after.Mallocs - before.Mallocs)
	}
	return bytes / runs, allocs / runs
}

// threadCPUCost is the thread CPU time one threadCPU call adds to a
// measurement, averaged over many: reading that clock is a system call,
// about 1.5 us per request on the machine the README quotes, 3 ns per span
// of a 512-span request.
func threadCPUCost(b *testing.B) time.Duration {
	const calls = 1024
	start := threadCPU(b)
	for range calls {
		threadCPU(b)
	}
	return (threadCPU(b) - start) / calls
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
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
