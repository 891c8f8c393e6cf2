package lifecycleidentityprocessor

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// benchBatch builds a request of spans of the given traces: nTraces traces
// with perTrace spans each (a root and its children, children first), with
// the default identity on the resource and five ordinary span attributes.
func benchBatch(firstTrace uint64, nTraces, perTrace int) ptrace.Traces {
	return benchTraces(firstTrace, nTraces, perTrace, false)
}

// rootFirstBatch is benchBatch with the root first and then its children:
// a trace of 2,001 spans closes segment 0 once (max_spans 2000) and puts
// its last span in segment 1.
func rootFirstBatch(firstTrace uint64, nTraces, perTrace int) ptrace.Traces {
	return benchTraces(firstTrace, nTraces, perTrace, true)
}

func benchTraces(firstTrace uint64, nTraces, perTrace int, rootFirst bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	setIdentity(rs.Resource().Attributes())
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(nTraces * perTrace)
	for k := 0; k < perTrace; k++ { // traces interleaved
		s := perTrace - 1 - k // children before the root
		if rootFirst {
			s = k
		}
		for t := 0; t < nTraces; t++ {
			sp := spans.AppendEmpty()
			fillBenchSpan(sp, traceID(firstTrace+uint64(t)), uint64(s+1), 1)
			if s == 0 {
				sp.SetParentSpanID(pcommon.NewSpanIDEmpty())
			}
		}
	}
	return td
}

func fillBenchSpan(sp ptrace.Span, t pcommon.TraceID, id, parent uint64) {
	sp.SetTraceID(t)
	sp.SetSpanID(spanID(id))
	sp.SetParentSpanID(spanID(parent))
	sp.SetName("handle message")
	sp.SetKind(ptrace.SpanKindConsumer)
	sp.SetStartTimestamp(1_700_000_000_000_000_000)
	sp.SetEndTimestamp(1_700_000_000_001_000_000)
	a := sp.Attributes()
	a.EnsureCapacity(8)
	a.PutStr("messaging.system", "kafka")
	a.PutStr("messaging.destination.name", "orders")
	a.PutStr("messaging.operation", "process")
	a.PutInt("messaging.batch.message_count", 1)
	a.PutBool("retry", false)
}

func newBenchProcessor(b *testing.B, set processor.Settings) processor.Traces {
	p, err := NewFactory().CreateTraces(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, p.Shutdown(context.Background())) })
	return p
}

// BenchmarkNeverSplit: traces that never split, default identity schema,
// batches of 1000 spans from 100 traces (10 spans each). New traces keep
// arriving, so the table fills to max_traces and evicts, as in production.
// One op is one batch.
func BenchmarkNeverSplit(b *testing.B) {
	p := newBenchProcessor(b, nopSettings())
	const pool = 32
	batches := make([]ptrace.Traces, pool)
	next := uint64(1)
	for i := range batches {
		batches[i] = benchBatch(next, 100, 10)
		next += 100
	}
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	var cpu cpuClock
	b.ResetTimer()
	cpu.start()
	for i := 0; i < b.N; i++ {
		k := i % pool
		if k == 0 && i > 0 {
			// Give the pool fresh trace IDs (not timed): 10 spans per trace, ever.
			b.StopTimer()
			cpu.stop()
			for _, td := range batches {
				spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				for s := 0; s < spans.Len(); s++ {
					sp := spans.At(s)
					t := sp.TraceID()
					t[1]++
					if t[1] == 0 {
						t[2]++
					}
					sp.SetTraceID(t)
				}
			}
			cpu.start()
			b.StartTimer()
		}
		if err := p.ConsumeTraces(ctx, batches[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.stop()
	runtime.ReadMemStats(&ms1)
	spans := float64(b.N) * 1000
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans, "ns/span")
	b.ReportMetric(float64(cpu.total.Nanoseconds())/spans, "cpu-ns/span")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/spans, "allocs/span")
}

// lifecycleBatches builds one long-lived trace of n spans in batches of 1000:
// a lifecycle root (never arriving) and handlers with four children each,
// children arriving before their handler.
func lifecycleBatches(t pcommon.TraceID, n int) []ptrace.Traces {
	var out []ptrace.Traces
	next := lifecycleStream(t, n)
	for td, ok := next(); ok; td, ok = next() {
		out = append(out, td)
	}
	return out
}

// lifecycleStream returns the batches of lifecycleBatches one at a time, so
// that a trace of a million spans need not be held in memory at once.
func lifecycleStream(t pcommon.TraceID, n int) func() (ptrace.Traces, bool) {
	id := uint64(2)
	made := 0
	return func() (ptrace.Traces, bool) {
		if made >= n {
			return ptrace.Traces{}, false
		}
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		setIdentity(rs.Resource().Attributes())
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		spans.EnsureCapacity(1000)
		for start := made; made < n && (made == start || made%1000 != 0); {
			handler := id
			id++
			for c := 0; c < 4 && made < n-1; c++ {
				fillBenchSpan(spans.AppendEmpty(), t, id, handler)
				id++
				made++
			}
			fillBenchSpan(spans.AppendEmpty(), t, handler, 1) // parent: the lifecycle root
			made++
		}
		return td, true
	}
}

// BenchmarkLongLivedTrace: one trace of 100,000 spans in batches of 1000,
// cut into 50 segments of 2000. One op is the whole trace.
func BenchmarkLongLivedTrace(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	var elapsedNs int64
	var cpu cpuClock
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newCore(b, createDefaultConfig().(*Config), newFakeClock(), nopSettings())
		batches := lifecycleBatches(traceID(uint64(i+1)), 100_000)
		b.StartTimer()
		cpu.start()
		for _, td := range batches {
			if _, err := p.processTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
		cpu.stop()
	}
	elapsedNs = b.Elapsed().Nanoseconds()
	b.ReportMetric(float64(elapsedNs)/float64(b.N)/100_000, "ns/span")
	b.ReportMetric(float64(cpu.total.Nanoseconds())/float64(b.N)/100_000, "cpu-ns/span")
}

// heapAlloc is the Go heap after garbage collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchHeldPerTrace reports the memory held after tracking traces traces
// (bytes/trace, the Go heap's and the trace table's outside it, the latter
// also alone as offheap-bytes/trace),
// given perBatch at a time by batch(first trace, number of traces); none
// splits, so all are still tracked at the end.
func benchHeldPerTrace(b *testing.B, traces, perBatch int, batch func(first uint64, n int) ptrace.Traces) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		before := heapAlloc()
		p := newCore(b, createDefaultConfig().(*Config), newFakeClock(), nopSettings())
		for t := 0; t < traces; t += perBatch {
			if _, err := p.processTraces(ctx, batch(uint64(t+1), perBatch)); err != nil {
				b.Fatal(err)
			}
		}
		off := p.split.OffHeapBytes()
		after := heapAlloc() + uint64(off)
		require.Equal(b, traces, p.split.Tracked())
		b.ReportMetric(float64(after-before)/float64(traces), "bytes/trace")
		b.ReportMetric(float64(off)/float64(traces), "offheap-bytes/trace")
		p.split.Reset() // now, not when a later iteration collects garbage
	}
}

// BenchmarkMemoryNeverSplit: heap held after tracking 100,000 traces of 10
// spans each (none splits).
func BenchmarkMemoryNeverSplit(b *testing.B) {
	benchHeldPerTrace(b, 100_000, 100, func(first uint64, n int) ptrace.Traces {
		return benchBatch(first, n, 10)
	})
}

// BenchmarkMemoryMidSize: heap held after tracking 10,000 traces of 100 spans
// each (none splits; each outgrows the seen set and keeps its next spans in
// the middle tier, see prefix.go). No target: it shows what a trace past the
// seen set costs.
func BenchmarkMemoryMidSize(b *testing.B) {
	benchHeldPerTrace(b, 10_000, 10, func(first uint64, n int) ptrace.Traces {
		return benchBatch(first, n, 100)
	})
}

// BenchmarkMemorySplit: heap held after tracking traces that split: 50 traces
// of 20,000 spans (10 segments each) and, separately, one of 100,000, 300,000
// and 1,000,000 spans (50, 150 and 500 segments: the window of closed
// segments is full from 72 segments on, so what one trace holds stops
// growing). Batches are built as they are fed, not held.
func BenchmarkMemorySplit(b *testing.B) {
	for _, tc := range []struct {
		name           string
		traces, spans_ int
	}{{"50x20000", 50, 20_000}, {"1x100000", 1, 100_000}, {"1x300000", 1, 300_000}, {"1x1000000", 1, 1_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				before := heapAlloc()
				p := newCore(b, createDefaultConfig().(*Config), newFakeClock(), nopSettings())
				for t := 0; t < tc.traces; t++ {
					next := lifecycleStream(traceID(uint64(t+1)), tc.spans_)
					for td, ok := next(); ok; td, ok = next() {
						if _, err := p.processTraces(ctx, td); err != nil {
							b.Fatal(err)
						}
					}
				}
				after := heapAlloc() + uint64(p.split.OffHeapBytes())
				held := float64(after - before)
				b.ReportMetric(held/float64(tc.traces*tc.spans_), "bytes/span")
				b.ReportMetric(held/float64(tc.traces), "bytes/trace")
				if tc.traces == 1 { // what the trace's own state holds, without the processor's fixed part
					n, _ := p.split.TraceBytes(segment.TraceID(traceID(1)))
					b.ReportMetric(float64(n), "state-bytes/trace")
				}
				p.split.Reset() // now, not when a later iteration collects garbage
			}
		})
	}
}

// wideBatch builds nTraces traces of 101 spans each: a root, 20 handlers and
// 4 children per handler, all children first, then the handlers, then the
// root, traces interleaved. 21 parents are open at once, more than the
// prefix holds, so every trace takes per-span state.
func wideBatch(firstTrace uint64, nTraces int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	setIdentity(rs.Resource().Attributes())
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(nTraces * 101)
	add := func(id, parent uint64) {
		for t := 0; t < nTraces; t++ {
			fillBenchSpan(spans.AppendEmpty(), traceID(firstTrace+uint64(t)), id, parent)
		}
	}
	for h := uint64(0); h < 20; h++ {
		for c := uint64(0); c < 4; c++ {
			add(100+4*h+c, 2+h)
		}
	}
	for h := uint64(0); h < 20; h++ {
		add(2+h, 1)
	}
	for t := 0; t < nTraces; t++ {
		sp := spans.AppendEmpty()
		fillBenchSpan(sp, traceID(firstTrace+uint64(t)), 1, 1)
		sp.SetParentSpanID(pcommon.NewSpanIDEmpty())
	}
	return td
}

// BenchmarkMemoryMidSizeWide: heap held after tracking 10,000 traces of 101
// spans with 21 parents open at once (none splits; each takes per-span
// state). No target.
func BenchmarkMemoryMidSizeWide(b *testing.B) {
	benchHeldPerTrace(b, 10_000, 10, wideBatch)
}

// BenchmarkMemoryOnceSplit: memory held after tracking 1,000 traces of
// 2,001 spans, each of which closes segment 0 once (the case of issue 13:
// 30 to 40 KB a trace before).
func BenchmarkMemoryOnceSplit(b *testing.B) {
	benchHeldPerTrace(b, 1000, 10, func(first uint64, n int) ptrace.Traces {
		return rootFirstBatch(first, n, 2001)
	})
}
