package destinationsexporter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/route"
)

func testRouter() *router {
	return &router{index: map[string]int{"a": 0, "b": 1, "c": 2}}
}

// resources counts the resources a plan hands to destinations, over all of
// them: the copies made plus the resources moved.
func (p *plan) resources() int {
	n := 0
	for i, used := range p.used {
		if used {
			n += p.batches[i].ResourceSpans().Len()
		}
	}
	return n
}

// assertNoRoute checks that no resource of the plan carries the route.
func assertNoRoute(t *testing.T, p plan) {
	t.Helper()
	for i, used := range p.used {
		if !used {
			continue
		}
		for j := 0; j < p.batches[i].ResourceSpans().Len(); j++ {
			_, has := p.batches[i].ResourceSpans().At(j).Resource().Attributes().Get(route.Attribute)
			assert.False(t, has, "destination %d, resource %d carries the route", i, j)
		}
	}
}

// A mixed batch: each resource reaches exactly the configured destinations
// of its own route.
func TestRouterSplit(t *testing.T) {
	td := newTraces(
		resourceSpec{to: "a", spans: 1},
		resourceSpec{to: "c", spans: 2},
		resourceSpec{to: "a,b", spans: 3},
		resourceSpec{to: "x", spans: 4},     // unknown: 4 dropped
		resourceSpec{spans: 5},              // no route: unrouted
		resourceSpec{to: "b,x,y", spans: 6}, // to b; x and y unknown: 12 dropped
	)
	p := testRouter().split(td)
	assert.Equal(t, []bool{true, true, true}, p.used)
	assert.Equal(t, 1+3, p.batches[0].SpanCount())
	assert.Equal(t, 2, p.batches[0].ResourceSpans().Len())
	assert.Equal(t, 3+6, p.batches[1].SpanCount())
	assert.Equal(t, 2, p.batches[2].SpanCount())
	assert.Equal(t, int64(4+2*6), p.unknownSpans)
	assert.Equal(t, "x", p.unknownName, "the first unknown name of the batch")
	assert.Equal(t, int64(5), p.unroutedSpans)
	assert.Equal(t, 5, p.resources(), "one resource per configured destination named")
	assertNoRoute(t, p)
	// The trace config stamps stay on every copy.
	for i := range p.batches {
		v, ok := p.batches[i].ResourceSpans().At(0).Resource().Attributes().Get("trace_config.account")
		require.True(t, ok)
		assert.Equal(t, "a1", v.Str())
	}
}

// A name repeated in the route gives one copy; an unknown name repeated is
// counted once.
func TestRouterRepeatedNameOneCopy(t *testing.T) {
	p := testRouter().split(newTraces(resourceSpec{to: "a,b,a,x,a,x,b", spans: 2}))
	assert.Equal(t, []bool{true, true, false}, p.used)
	assert.Equal(t, 1, p.batches[0].ResourceSpans().Len())
	assert.Equal(t, 1, p.batches[1].ResourceSpans().Len())
	assert.Equal(t, 2, p.resources())
	assert.Equal(t, int64(2), p.unknownSpans, "x counted once")
	assertNoRoute(t, p)
}

// Past the names nameSet tracks without a map, repeated unknown names are
// still counted once each.
func TestRouterManyUnknownNames(t *testing.T) {
	var names []string
	for i := range 3 * smallNameSet {
		names = append(names, fmt.Sprintf("ghost-%d", i))
	}
	value := route.Join(names) + route.Separator + route.Join(names) + route.Separator + "a"
	td := newTraces(resourceSpec{to: value, spans: 1}, resourceSpec{to: "y,y", spans: 1})
	p := testRouter().split(td)
	assert.Equal(t, int64(3*smallNameSet+1), p.unknownSpans)
	assert.Equal(t, 1, p.resources())
	assert.True(t, p.used[0])
}

// Without a route, with an empty one, or with one naming nothing (only
// separators), a resource is unrouted. The old trace_config.destination
// stamp is no route: it is an ordinary attribute now.
func TestRouterUnrouted(t *testing.T) {
	td := newTraces(resourceSpec{spans: 1}, resourceSpec{to: ",", spans: 2}, resourceSpec{to: ",,,", spans: 4})
	td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr(route.Attribute, "") // no spans
	old := td.ResourceSpans().AppendEmpty()
	old.Resource().Attributes().PutStr("trace_config.destination", "a")
	old.ScopeSpans().AppendEmpty().Spans().AppendEmpty()

	p := testRouter().split(td)
	assert.Equal(t, int64(1+2+4+0+1), p.unroutedSpans)
	assert.Zero(t, p.unknownSpans)
	assert.Equal(t, []bool{false, false, false}, p.used)
}

// Empty names between separators are skipped: ",a,,b," routes to a and b.
func TestRouterSkipsEmptyNames(t *testing.T) {
	p := testRouter().split(newTraces(resourceSpec{to: ",a,,b,", spans: 1}))
	assert.Equal(t, []bool{true, true, false}, p.used)
	assert.Zero(t, p.unknownSpans)
	assert.Zero(t, p.unroutedSpans)
}

// A route attribute that is not a string (trace_routing always writes one)
// is read as its string form: int 7 routes to "7", bool true to "true"; a
// map reads as JSON text, names no configured destination and is dropped as
// unknown.
func TestRouterNonStringRouteAttribute(t *testing.T) {
	r := &router{index: map[string]int{"7": 0, "true": 1}}
	td := ptrace.NewTraces()
	add := func(spans int, set func(pcommon.Map)) {
		rs := td.ResourceSpans().AppendEmpty()
		set(rs.Resource().Attributes())
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		for range spans {
			ss.AppendEmpty()
		}
	}
	add(1, func(m pcommon.Map) { m.PutInt(route.Attribute, 7) })
	add(2, func(m pcommon.Map) { m.PutBool(route.Attribute, true) })
	add(4, func(m pcommon.Map) { m.PutEmptyMap(route.Attribute).PutStr("k", "v") })

	p := r.split(td)
	require.Equal(t, []bool{true, true}, p.used)
	assert.Equal(t, 1, p.batches[0].SpanCount())
	assert.Equal(t, 2, p.batches[1].SpanCount())
	assert.Equal(t, int64(4), p.unknownSpans)
	assert.Equal(t, `{"k":"v"}`, p.unknownName)
	assert.Zero(t, p.unroutedSpans)
	assertNoRoute(t, p)
}

// Copies for several destinations are independent: a destination's exporter
// may change its copy without touching the others'.
func TestRouterCopiesAreIndependent(t *testing.T) {
	p := testRouter().split(newTraces(resourceSpec{to: "a,b", spans: 2}))
	require.True(t, p.used[0])
	require.True(t, p.used[1])
	assert.False(t, p.used[2])
	p.batches[0].ResourceSpans().At(0).Resource().Attributes().PutStr("mutated", "yes")
	_, has := p.batches[1].ResourceSpans().At(0).Resource().Attributes().Get("mutated")
	assert.False(t, has)
	assert.Equal(t, 2, p.batches[1].SpanCount())
	assert.Zero(t, p.unroutedSpans)
}

// routeOf32 is a route of 32 valid names of which only tempo, in the
// middle, is configured.
func routeOf32() string {
	names := make([]string, 0, 32)
	for i := range 31 {
		if i == 15 {
			names = append(names, "tempo")
		}
		names = append(names, fmt.Sprintf("ghost-%02d", i))
	}
	return route.Join(names)
}

// A route naming 32 destinations of which 31 are unknown costs what a route
// naming only the known one costs: one resource handed over, no copy, not
// one allocation more.
func TestRouterUnknownNamesMakeNoCopy(t *testing.T) {
	value := routeOf32()
	require.Len(t, strings.Split(value, route.Separator), 32)
	r := &router{index: map[string]int{"tempo": 0}}

	p := r.split(newTraces(resourceSpec{to: value, spans: 10}))
	assert.Equal(t, 1, p.resources(), "one resource handed to the one configured destination")
	assert.Equal(t, int64(31*10), p.unknownSpans)
	assertNoRoute(t, p)

	allocs := func(to string) float64 {
		src := newTraces(resourceSpec{to: to, spans: 10})
		return testing.AllocsPerRun(200, func() {
			td := ptrace.NewTraces()
			src.CopyTo(td)
			r.split(td)
		})
	}
	one, many := allocs("tempo"), allocs(value)
	t.Logf("allocations per batch (copy of the batch included): 1 name %v, 32 names of which 31 unknown %v", one, many)
	assert.Equal(t, one, many, "31 unknown names must allocate nothing (1 name: %v allocs, 32 names: %v)", one, many)
}

// BenchmarkRouterSplit routes a 1000-span batch of 100 resources over three
// destinations, one each.
func BenchmarkRouterSplit(b *testing.B) {
	specs := make([]resourceSpec, 100)
	for i := range specs {
		specs[i] = resourceSpec{to: fmt.Sprintf("%c", 'a'+i%3), spans: 10}
	}
	benchmarkSplit(b, testRouter(), newTraces(specs...))
}

// BenchmarkRouteWithUnknownNames routes a 1000-span batch of 100 resources,
// each routed to one configured destination: by a route of that one name,
// by a route of 32 names of which 31 are not configured, and, for scale, by
// a route of 32 names all configured (31 copies per resource). B/op of the
// first two is the same: an unknown name costs no copy.
func BenchmarkRouteWithUnknownNames(b *testing.B) {
	allConfigured := &router{index: map[string]int{"tempo": 0}}
	var all []string
	for i := range 31 {
		name := fmt.Sprintf("ghost-%02d", i)
		allConfigured.index[name] = i + 1
		all = append(all, name)
	}
	all = append(all, "tempo")
	oneConfigured := &router{index: map[string]int{"tempo": 0}}
	for _, bc := range []struct {
		name string
		r    *router
		to   string
	}{
		{"1_name", oneConfigured, "tempo"},
		{"32_names_31_unknown", oneConfigured, routeOf32()},
		{"32_names_all_configured", allConfigured, route.Join(all)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			specs := make([]resourceSpec, 100)
			for i := range specs {
				specs[i] = resourceSpec{to: bc.to, spans: 10}
			}
			benchmarkSplit(b, bc.r, newTraces(specs...))
		})
	}
}

// benchmarkSplit splits a fresh copy of src per iteration; the copy is made
// with the timer (and the allocation count) stopped.
func benchmarkSplit(b *testing.B, r *router, src ptrace.Traces) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		b.StartTimer()
		r.split(td)
	}
}
