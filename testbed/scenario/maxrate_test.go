package scenario

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestStepRates: the ratio counts what arrived in time against the
// schedule; the delivered rate divides everything that arrived by the time
// it took, drain included, not by the step's length.
func TestStepRates(t *testing.T) {
	ratio, rate := stepRates(59_000, 60_000, 10_000, 6*time.Second, 7.5)
	if ratio < 0.9833 || ratio > 0.9834 {
		t.Errorf("ratio = %f, want 59000/60000", ratio)
	}
	if rate != 8000 {
		t.Errorf("delivered rate = %f, want 60000 / 7.5 s = 8000", rate)
	}
}

func TestSummariseRamps(t *testing.T) {
	sum := summariseRamps([]rampOutcome{
		{Pipeline: Tracebound, Good: 437_000, Peak: 450_000, Limit: true},
		{Pipeline: Baseline, Good: 328_000, Peak: 340_000, Limit: true},
		{Pipeline: Baseline, Good: 291_000, Peak: 350_000, Limit: false},
		{Pipeline: Tracebound, Good: 492_000, Peak: 500_000, Limit: true},
	})
	if tb := sum[Tracebound]; tb.Good != 464_000 || tb.Peak != 500_000 || !tb.Limit || !slices.Equal(tb.Goods, []int{437_000, 492_000}) {
		t.Errorf("tracebound: %+v, want mean 464000 of [437000 492000], peak 500000, limit found", tb)
	}
	if bl := sum[Baseline]; bl.Good != 309_000 || bl.Peak != 350_000 || bl.Limit || !slices.Equal(bl.Goods, []int{328_000, 291_000}) {
		t.Errorf("baseline: %+v, want mean 309000 of [328000 291000], peak 350000, a limit not found", bl)
	}
}

// TestSampleAt: read before its time, the sample is the current value;
// read after, it is the value at its time, not the later one.
func TestSampleAt(t *testing.T) {
	var v atomic.Int64
	v.Store(5)
	early := sampleAt(time.Now().Add(time.Hour), v.Load)
	v.Store(6)
	if got := early(); got != 6 {
		t.Errorf("read before its time: %d, want the current 6", got)
	}
	late := sampleAt(time.Now().Add(50*time.Millisecond), v.Load)
	time.Sleep(300 * time.Millisecond)
	v.Store(9)
	if got := late(); got != 6 {
		t.Errorf("read after its time: %d, want 6, the value then", got)
	}
}
