package lifecycleidentityprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNeverSplitAllocatesNothing: spans of traces that never split, with a
// valid identity, cost no heap allocation in the processor core (the
// processorhelper wrapper adds a few per batch, not per span).
func TestNeverSplitAllocatesNothing(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Split.MaxTraces = 2000 // steady state: full table, evicting, within the warm-up
	p := newCore(t, cfg, newFakeClock(), nopSettings())
	td := benchBatch(1, 100, 10)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	fresh := func() { // new trace IDs: every trace gets 10 spans, ever
		for s := 0; s < spans.Len(); s++ {
			sp := spans.At(s)
			id := sp.TraceID()
			id[1]++
			if id[1] == 0 {
				id[2]++
			}
			sp.SetTraceID(id)
		}
	}
	ctx := context.Background()
	for i := 0; i < 50; i++ { // warm up: the table fills and starts evicting
		fresh()
		_, _ = p.processTraces(ctx, td)
	}
	allocs := testing.AllocsPerRun(100, func() {
		fresh()
		_, _ = p.processTraces(ctx, td)
	})
	assert.Zero(t, allocs, "allocations per batch of 1000 spans")
}
