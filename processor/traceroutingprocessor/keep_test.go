package traceroutingprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestKeepSet: both ways of removing (a new Traces when most resources go,
// RemoveIf when most stay) leave exactly the marked resources, in order,
// within the stack-held set and past it.
func TestKeepSet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resources int
		keep      func(i int) bool
	}{
		{"all", 10, func(int) bool { return true }},
		{"first only", 512, func(i int) bool { return i == 0 }},
		{"few of many", 700, func(i int) bool { return i%100 == 3 }},
		{"most", 20, func(i int) bool { return i != 7 }},
		{"most of many", 700, func(i int) bool { return i%64 != 63 }},
		{"half", 130, func(i int) bool { return i%2 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			var want []string
			k := newKeepSet(tc.resources)
			for i := range tc.resources {
				name := fmt.Sprint("svc-", i)
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", name)
				rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName(name)
				if tc.keep(i) {
					k.add(i)
					want = append(want, name)
				}
			}
			out := k.apply(td)
			var got []string
			for _, rs := range out.ResourceSpans().All() {
				name, _ := rs.Resource().Attributes().Get("service.name")
				got = append(got, name.Str())
				assert.Equal(t, name.Str(), rs.ScopeSpans().At(0).Spans().At(0).Name())
			}
			assert.Equal(t, want, got)
		})
	}
}
