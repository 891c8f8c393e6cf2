package destinationsexporter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func testRouter(defaults ...int) *router {
	return &router{
		attribute: DefaultRouteAttribute,
		index:     map[string]int{"a": 0, "b": 1, "c": 2},
		defaults:  defaults,
	}
}

func TestRouterSplit(t *testing.T) {
	td := newTraces(
		resourceSpec{destination: "a", spans: 1},
		resourceSpec{destination: "c", spans: 2},
		resourceSpec{destination: "a", spans: 3},
		resourceSpec{destination: "x", spans: 4},
		resourceSpec{spans: 5},
	)
	rt := testRouter().split(td)
	assert.Equal(t, []bool{true, false, true}, rt.used)
	assert.Equal(t, 4, rt.batches[0].SpanCount())
	assert.Equal(t, 2, rt.batches[0].ResourceSpans().Len())
	assert.Equal(t, 2, rt.batches[2].SpanCount())
	assert.Equal(t, int64(4), rt.unknownSpans)
	assert.Equal(t, int64(5), rt.unroutedSpans)
	for _, i := range []int{0, 2} {
		for j := 0; j < rt.batches[i].ResourceSpans().Len(); j++ {
			_, has := rt.batches[i].ResourceSpans().At(j).Resource().Attributes().Get(DefaultRouteAttribute)
			assert.False(t, has)
		}
	}
}

// Copies for several default destinations are independent: a destination's
// exporter may change its copy without touching the others'.
func TestRouterDefaultsAreIndependentCopies(t *testing.T) {
	rt := testRouter(0, 1).split(newTraces(resourceSpec{spans: 2}))
	require.True(t, rt.used[0])
	require.True(t, rt.used[1])
	assert.False(t, rt.used[2])
	rt.batches[0].ResourceSpans().At(0).Resource().Attributes().PutStr("mutated", "yes")
	_, has := rt.batches[1].ResourceSpans().At(0).Resource().Attributes().Get("mutated")
	assert.False(t, has)
	assert.Equal(t, 2, rt.batches[1].SpanCount())
	assert.Zero(t, rt.unroutedSpans)
}

// BenchmarkRouterSplit routes a 1000-span batch of 100 resources over three
// destinations.
func BenchmarkRouterSplit(b *testing.B) {
	specs := make([]resourceSpec, 100)
	for i := range specs {
		specs[i] = resourceSpec{destination: fmt.Sprintf("%c", 'a'+i%3), spans: 10}
	}
	src := newTraces(specs...)
	r := testRouter()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		b.StartTimer()
		r.split(td)
	}
}
