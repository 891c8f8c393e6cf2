package traceroutingprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
)

// layout describes what left: per resource, per scope, the span IDs' first
// bytes, in order.
func layout(td ptrace.Traces) [][][]byte {
	var out [][][]byte
	for i := range td.ResourceSpans().Len() {
		var scopes [][]byte
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := range sss.Len() {
			var ids []byte
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				id := spans.At(k).SpanID()
				ids = append(ids, id[0])
			}
			scopes = append(scopes, ids)
		}
		out = append(out, scopes)
	}
	return out
}

func routeOnce(t *testing.T, td ptrace.Traces) ptrace.Traces {
	t.Helper()
	h := newHarness(t, nil)
	h.consume(t, withHeader("cf-trace-config", configFor("tempo")), td)
	all := h.sink.AllTraces()
	require.Len(t, all, 1)
	return all[0]
}

func TestIdenticalResourcesFoldIntoOne(t *testing.T) {
	out := routeOnce(t, oneSpanResources(5, nil))
	assert.Equal(t, [][][]byte{{{1, 2, 3, 4, 5}}}, layout(out), "one resource, one scope, spans in order")
	attrs := out.ResourceSpans().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{
		"service.name": "worker", "service.version": "1.2.3",
		attrAccount: "a1", attrZone: "z1", attrWorkspace: "w1", "tracebound.route": "tempo",
	}, attrs)
}

func TestOnlyConsecutiveEqualResourcesFold(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(i int, rs ptrace.ResourceSpans)
		want [][][]byte
	}{
		"another attribute value in the middle": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 2 {
					rs.Resource().Attributes().PutStr("service.version", "2")
				}
			},
			want: [][][]byte{{{1, 2}}, {{3}}, {{4, 5}}},
		},
		"one attribute more": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i >= 3 {
					rs.Resource().Attributes().PutStr("host.name", "h")
				}
			},
			want: [][][]byte{{{1, 2, 3}}, {{4, 5}}},
		},
		"one attribute less": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 0 {
					rs.Resource().Attributes().PutStr("host.name", "h")
				}
			},
			want: [][][]byte{{{1}}, {{2, 3, 4, 5}}},
		},
		"another schema URL": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 1 {
					rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
				}
			},
			want: [][][]byte{{{1}}, {{2}}, {{3, 4, 5}}},
		},
		"dropped attributes": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 4 {
					rs.Resource().SetDroppedAttributesCount(1)
				}
			},
			want: [][][]byte{{{1, 2, 3, 4}}, {{5}}},
		},
		"entity refs are never folded": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 1 {
					entity.ResourceEntityRefs(rs.Resource()).AppendEmpty().SetType("service")
				}
			},
			want: [][][]byte{{{1}}, {{2}}, {{3, 4, 5}}},
		},
		"another scope keeps its own ScopeSpans": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 2 {
					rs.ScopeSpans().At(0).Scope().SetVersion("2")
				}
			},
			want: [][][]byte{{{1, 2}, {3}, {4, 5}}},
		},
		"the same attributes in another order": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 2 {
					attrs := rs.Resource().Attributes()
					attrs.Clear()
					attrs.PutStr("service.version", "1.2.3")
					attrs.PutStr("service.name", "worker")
				}
			},
			want: [][][]byte{{{1, 2, 3, 4, 5}}},
		},
		"more attributes than the head remembers in order": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				for j := range maxHeadAttrs {
					rs.Resource().Attributes().PutInt(fmt.Sprintf("k%d", j), int64(j))
				}
				if i == 3 {
					rs.Resource().Attributes().PutInt("k0", 100)
				}
			},
			want: [][][]byte{{{1, 2, 3}}, {{4}}, {{5}}},
		},
		"the same trace.config attribute on each": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				rs.Resource().Attributes().PutStr(attrTraceConfig, configFor("tempo"))
			},
			want: [][][]byte{{{1, 2, 3, 4, 5}}},
		},
		"a producer's stale stamps do not matter": {
			edit: func(i int, rs ptrace.ResourceSpans) {
				if i == 1 {
					rs.Resource().Attributes().PutStr(attrAccount, "spoofed")
					rs.Resource().Attributes().PutStr("tracebound.route", "elsewhere")
				}
			},
			want: [][][]byte{{{1, 2, 3, 4, 5}}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, layout(routeOnce(t, oneSpanResources(5, tc.edit))))
		})
	}
}

// Resources with another decision never fold, even when otherwise equal.
func TestDifferentDecisionsDoNotFold(t *testing.T) {
	td := oneSpanResources(4, func(i int, rs ptrace.ResourceSpans) {
		if i == 1 || i == 2 {
			rs.Resource().Attributes().PutStr(attrTraceConfig, configFor("vendor"))
		}
	})
	out := routeOnce(t, td)
	assert.Equal(t, [][][]byte{{{1}}, {{2, 3}}, {{4}}}, layout(out))
	var routes []string
	for i := range out.ResourceSpans().Len() {
		v, _ := out.ResourceSpans().At(i).Resource().Attributes().Get("tracebound.route")
		routes = append(routes, v.Str())
	}
	assert.Equal(t, []string{"tempo", "vendor", "tempo"}, routes)
}

// A dropped resource between two equal ones does not stop them folding:
// what leaves is the same as if it had never been sent.
func TestDroppedResourceBetweenEqualOnes(t *testing.T) {
	td := oneSpanResources(3, func(i int, rs ptrace.ResourceSpans) {
		if i == 1 {
			rs.Resource().Attributes().PutStr(attrTraceConfig, "{broken")
		}
	})
	assert.Equal(t, [][][]byte{{{1, 3}}}, layout(routeOnce(t, td)))
}

func TestSeveralScopesFoldInOrder(t *testing.T) {
	td := oneSpanResources(3, func(i int, rs ptrace.ResourceSpans) {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("other")
		s := ss.Spans().AppendEmpty()
		s.SetSpanID(pcommon.SpanID{byte(100 + i)})
	})
	// Each resource: [foundations: i+1] [other: 100+i]. Folded in order;
	// only a first scope equal to the previous last one joins it.
	assert.Equal(t, [][][]byte{{{1}, {100}, {2}, {101}, {3}, {102}}}, layout(routeOnce(t, td)))
}

// TestScopeAttributesDecideWhetherSpansJoin: the first scope of a resource
// that joins goes into the previous last scope only when its attributes
// are equal too, with or without attributes on the previous one.
func TestScopeAttributesDecideWhetherSpansJoin(t *testing.T) {
	attrs := func(vals ...string) func(i int, rs ptrace.ResourceSpans) {
		return func(i int, rs ptrace.ResourceSpans) {
			if vals[i] != "" {
				rs.ScopeSpans().At(0).Scope().Attributes().PutStr("scope.kind", vals[i])
			}
		}
	}
	for name, tc := range map[string]struct {
		edit func(i int, rs ptrace.ResourceSpans)
		want [][][]byte
	}{
		"equal attributes join":        {attrs("a", "a", "a"), [][][]byte{{{1, 2, 3}}}},
		"other attributes do not":      {attrs("a", "b", "b"), [][][]byte{{{1}, {2, 3}}}},
		"attributes after none do not": {attrs("", "a", ""), [][][]byte{{{1}, {2}, {3}}}},
		"none after attributes do not": {attrs("a", "", ""), [][][]byte{{{1}, {2, 3}}}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, layout(routeOnce(t, oneSpanResources(3, tc.edit))))
		})
	}
}
