package traceroutingprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzFold builds a request of one resource per input byte, whose bits
// pick the resource (service, dropped count, an invalid trace.config that
// drops it) and its scopes (name, attributes, a second scope, one or two
// spans), and routes it with one header. Whatever folds, every span of a
// resource that is not dropped must leave exactly once, in order, under an
// equal resource and an equal scope; no two resources that leave one after
// the other are equal, and no two scopes of one resource that follow each
// other are (either would have joined).
// Run: go test -run '^$' -fuzz FuzzFold -fuzztime 300000x ./processor/traceroutingprocessor/
func FuzzFold(f *testing.F) {
	for _, seed := range [][]byte{{0, 0, 0}, {0, 2, 0}, {0, 8, 8, 0}, {16, 16, 0}, {0, 64, 64, 1}, {1, 0, 1, 0, 33, 33}} {
		f.Add(seed)
	}
	h := newHarness(f, nil)
	ctx := withHeader("cf-trace-config", configFor("tempo"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64 {
			in = in[:64]
		}
		td, want := foldRequest(in)
		h.sink.Reset()
		h.consume(t, ctx, td)
		var got []string
		for _, out := range h.sink.AllTraces() {
			got = append(got, foldSequence(t, out)...)
		}
		require.Equal(t, want, got)
	})
}

// foldRequest builds the request the bits of in describe, and the
// sequence of its spans that must leave (see foldSequence).
func foldRequest(in []byte) (ptrace.Traces, []string) {
	td := ptrace.NewTraces()
	var want []string
	id := 0
	for _, b := range in {
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource()
		res.Attributes().PutStr("service.name", []string{"a", "b"}[b&1])
		dropped := b&2 != 0
		if dropped {
			res.Attributes().PutStr(attrTraceConfig, "{broken")
		}
		res.SetDroppedAttributesCount(uint32(b>>6) & 1)
		scopes := []string{[]string{"s", "t"}[b>>2&1]}
		if b&16 != 0 {
			scopes = append(scopes, "u")
		}
		for _, name := range scopes {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(name)
			if b&8 != 0 {
				ss.Scope().Attributes().PutStr("k", "v")
			}
			for range 1 + int(b>>5&1) {
				id++
				ss.Spans().AppendEmpty().SetSpanID(pcommon.SpanID{byte(id), byte(id >> 8)})
				if !dropped {
					want = append(want, spanKey(rs, ss, id))
				}
			}
		}
	}
	return td, want
}

// foldSequence lists the spans of td in order, each with what it must keep
// of its resource and scope, and checks that nothing that should have
// joined was left apart.
func foldSequence(t *testing.T, td ptrace.Traces) []string {
	var seq []string
	prevRes := ""
	for _, rs := range td.ResourceSpans().All() {
		resKey := resourceKey(rs)
		require.NotEqual(t, prevRes, resKey, "equal resources one after the other")
		prevRes = resKey
		prevScope := ""
		for _, ss := range rs.ScopeSpans().All() {
			scopeKey := fmt.Sprint(ss.Scope().Name(), ss.Scope().Attributes().AsRaw())
			require.NotEqual(t, prevScope, scopeKey, "equal scopes one after the other")
			prevScope = scopeKey
			for _, s := range ss.Spans().All() {
				id := s.SpanID()
				seq = append(seq, spanKey(rs, ss, int(id[0])|int(id[1])<<8))
			}
		}
	}
	return seq
}

func spanKey(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, id int) string {
	return fmt.Sprint(resourceKey(rs), "/", ss.Scope().Name(), ss.Scope().Attributes().AsRaw(), "/", id)
}

// resourceKey is what a span must keep of its resource: the attributes the
// processor does not own, and the dropped count.
func resourceKey(rs ptrace.ResourceSpans) string {
	name, _ := rs.Resource().Attributes().Get("service.name")
	return fmt.Sprint(name.Str(), rs.Resource().DroppedAttributesCount())
}
