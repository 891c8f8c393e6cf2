package destinationsexporter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
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

// A route attribute that is not a string is read as its string form, as the
// README says: int 7 routes to "7", bool true to "true"; a map reads as JSON
// text, names no configured destination and is dropped as unknown.
func TestRouterNonStringRouteAttribute(t *testing.T) {
	r := &router{attribute: DefaultRouteAttribute, index: map[string]int{"7": 0, "true": 1}}
	td := ptrace.NewTraces()
	add := func(spans int, set func(pcommon.Map)) {
		rs := td.ResourceSpans().AppendEmpty()
		set(rs.Resource().Attributes())
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		for range spans {
			ss.AppendEmpty()
		}
	}
	add(1, func(m pcommon.Map) { m.PutInt(DefaultRouteAttribute, 7) })
	add(2, func(m pcommon.Map) { m.PutBool(DefaultRouteAttribute, true) })
	add(4, func(m pcommon.Map) { m.PutEmptyMap(DefaultRouteAttribute).PutStr("k", "v") })

	rt := r.split(td)
	require.Equal(t, []bool{true, true}, rt.used)
	assert.Equal(t, 1, rt.batches[0].SpanCount())
	assert.Equal(t, 2, rt.batches[1].SpanCount())
	assert.Equal(t, int64(4), rt.unknownSpans)
	assert.Zero(t, rt.unroutedSpans)
	for i := range rt.batches {
		_, has := rt.batches[i].ResourceSpans().At(0).Resource().Attributes().Get(DefaultRouteAttribute)
		assert.False(t, has, "the route attribute is removed whatever its type")
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
