package traceroutingprocessor

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A resource of many spans early in a request of one-span resources must not
// make the fold reserve its span count for every resource left: 1,000 spans
// among 20,000 resources reserved room for 20 million spans (152 MiB for a
// 2 MB request, past any admission budget; a bigger one ends the process).
func TestFoldReservesOnlyWhatTheRequestHolds(t *testing.T) {
	const resources, bigSpans = 20_000, 1_000
	for name, secondScope := range map[string]bool{
		"one scope, joining the head's last":   false,
		"a second scope after the joining one": true,
	} {
		t.Run(name, func(t *testing.T) {
			td := oneSpanResources(resources, func(i int, rs ptrace.ResourceSpans) {
				if i != 1 {
					return
				}
				spans := rs.ScopeSpans().At(0).Spans()
				for range bigSpans - 1 {
					spans.AppendEmpty().SetName("more")
				}
				if secondScope {
					ss := rs.ScopeSpans().AppendEmpty()
					ss.Scope().SetName("other")
					ss.Spans().AppendEmpty().SetName("other")
				}
			})
			want := td.SpanCount()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out := routeOnce(t, td)
			runtime.ReadMemStats(&after)

			require.Equal(t, want, out.SpanCount(), "every span leaves once")
			// Every span of the request, moved, is a few MiB; the old
			// reservation was 8 bytes x 1,000 x 19,999.
			allocated := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, allocated, uint64(32<<20), "allocated %d MiB routing a request of %d spans", allocated>>20, want)
		})
	}
}
