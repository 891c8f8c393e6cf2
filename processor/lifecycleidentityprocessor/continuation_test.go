package lifecycleidentityprocessor

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// TestContinuationIndexIsDeterministic: two instances fed the same spans in
// the same batches, with the same steps of time between batches but at
// different wall-clock times (a replay, a replica), drop the same states
// (idle_timeout, max_traces) and put every span in the same segment, also
// the spans of traces that continue after their state was dropped: the
// continuation index comes from the spans' start times, not from the arrival
// time.
func TestContinuationIndexIsDeterministic(t *testing.T) {
	continuations := 0
	for seed := uint64(400); seed < 420; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		w := genWorkload(r, 30)
		maxSpans := 2 + r.IntN(20)
		cfg := randomEvictionConfig(r, maxSpans)
		batches := w.batches(r, 32)
		steps := make([]time.Duration, len(batches))
		for i := range steps {
			steps[i] = time.Duration(r.IntN(1500)) * time.Millisecond
		}
		replay := func(offset time.Duration) []outSpan {
			clock := newFakeClock()
			clock.Advance(offset)
			p := newCore(t, cfg, clock, nopSettings())
			var outs []ptrace.Traces
			for i, b := range batches {
				clock.Advance(steps[i])
				td := batch(b)
				setStarts(td)
				outs = append(outs, run(t, p, []ptrace.Traces{td})...)
			}
			return collect(outs)
		}
		a, b := replay(0), replay(1000*time.Hour+123*time.Microsecond)
		require.Len(t, b, len(a))
		for i := range a {
			require.Equal(t, a[i].name, b[i].name)
			require.Equal(t, a[i].trace, b[i].trace, "seed %d span %s (segment %d / %d)", seed, a[i].name, a[i].index, b[i].index)
			require.Equal(t, a[i].parent, b[i].parent, "seed %d span %s", seed, a[i].name)
			if uint64(a[i].index) >= segment.RestartBase {
				continuations++
			}
		}
	}
	assert.Positive(t, continuations, "the workloads must continue traces after eviction")
	t.Logf("%d spans in continuation segments", continuations)
}

// setStarts gives every span a start time of its own, derived from its name.
func setStarts(td ptrace.Traces) {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		h := fnv.New64a()
		h.Write([]byte(spans.At(i).Name()))
		spans.At(i).SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + h.Sum64()%(1<<40)))
	}
}

// TestContinuationIndexFromStartTime: a continuation opens segment
// 2^52 + the start time in microseconds of the span that arrives first, and
// a further continuation of the same trace whose first span started earlier
// still starts beyond the segments of the previous one.
func TestContinuationIndexFromStartTime(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(1)
	cfg.Split.IdleTimeout = time.Minute
	p := newCore(t, cfg, clock, nopSettings())
	send := func(start time.Duration, spans ...tspan) []outSpan {
		td := batch(spans)
		ss := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < ss.Len(); i++ {
			ss.At(i).SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + start.Nanoseconds()))
		}
		return collect(run(t, p, []ptrace.Traces{td}))
	}
	send(0, g("a", 1, 0))
	clock.Advance(2 * time.Minute) // dropped
	base := segment.RestartBase + 1_700_000_000_000_000
	second := send(5*time.Second, g("b", 2, 0), g("c", 3, 0), g("d", 4, 0))
	assert.Equal(t, fmt.Sprint(base+5_000_000), fmt.Sprint(second[0].index))
	assert.Equal(t, second[0].index+2, second[2].index, "max_spans 1: c and d open the next segments")
	clock.Advance(2 * time.Minute) // dropped again
	third := send(time.Second, g("e", 5, 0))
	assert.Equal(t, second[2].index+1, third[0].index, "started earlier, so raised above the previous continuation's last segment")
	require.NoError(t, p.shutdown(t.Context()))
}
