package segment

import "testing"

// BenchmarkEngineNeverSplit: the engine alone on BenchmarkNeverSplit's
// stream: batches of 100 new traces of 10 spans each (children first, then
// the root), interleaved, with the table full at the default max_traces
// and evicting. One op is one batch of 1000 spans. Without the processor's
// pdata work around it, a change to the engine shows through the noise of
// a shared machine (±2% here against ±20% for BenchmarkNeverSplit).
func BenchmarkEngineNeverSplit(b *testing.B) {
	e := New(testConfig(2000), epoch)
	next := uint64(1)
	batch := func() {
		e.Begin(epoch)
		for k := uint64(0); k < 10; k++ {
			s := 10 - k
			p := uint64(1)
			if s == 1 {
				p = 0 // the root, last
			}
			for t := uint64(0); t < 100; t++ {
				e.Assign(tid(next+t), s, p, 0)
			}
		}
		next += 100
	}
	for range 1500 { // fill the table: 150,000 traces, the last 100,000 tracked
		batch()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/span")
}

// BenchmarkEngineLongLived: the engine alone on BenchmarkLongLivedTrace's
// stream: one trace of 100,000 spans (a lifecycle root that never arrives,
// handlers with four children each, children first) in batches of 1000,
// cut into 50 segments of 2000. One op is the whole trace; making and
// dropping the engine is not timed, as making the processor is not there.
func BenchmarkEngineLongLived(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := New(testConfig(2000), epoch)
		b.StartTimer()
		lifecycle(e, tid(uint64(i+1)), 100_000, nil)
		b.StopTimer()
		e.Reset()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/span")
}
