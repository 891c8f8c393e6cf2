package lifecycleidentityprocessor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// workload is a set of random trees and the order their spans arrive in.
type workload struct {
	spans []tspan // arrival order
}

// genWorkload builds random trees: mostly small traces, some medium, and a
// few lifecycle traces (a root with many handlers, each with sub-spans). A
// span arrives when it ends: children mostly before their parents, some
// parents first, some spans (often lifecycle roots) never.
func genWorkload(r *rand.Rand, nTraces int) workload {
	type timed struct {
		s   tspan
		end float64
	}
	var all []timed
	nextSpan := uint64(1)
	for t := 0; t < nTraces; t++ {
		tid := traceID(uint64(r.Int64()))
		var n int
		lifecycle := false
		switch x := r.Float64(); {
		case x < 0.6:
			n = 1 + r.IntN(10)
		case x < 0.9:
			n = 10 + r.IntN(50)
		default:
			n = 100 + r.IntN(300)
			lifecycle = true
		}
		parent := make([]int, n)
		parent[0] = -1
		handlers := []int{}
		for i := 1; i < n; i++ {
			switch {
			case lifecycle && (len(handlers) == 0 || r.IntN(4) == 0):
				parent[i] = 0
				handlers = append(handlers, i)
			case lifecycle:
				parent[i] = handlers[len(handlers)-1-r.IntN(min(3, len(handlers)))]
			default:
				parent[i] = r.IntN(i)
			}
		}
		// End times, children before parents (indices only point backwards).
		start := r.Float64() * 100
		end := make([]float64, n)
		for i := n - 1; i >= 0; i-- {
			base := start + float64(i)*0.5
			if lifecycle {
				base = start + float64(i)*0.2
			}
			end[i] = max(end[i], base+r.Float64())
			if p := parent[i]; p >= 0 {
				if r.IntN(10) == 0 {
					end[p] = -1e9 // a parent that ends before its children: marked, fixed below
				} else if end[p] >= 0 {
					end[p] = max(end[p], end[i]+r.Float64()*0.1)
				}
			}
		}
		for i := 0; i < n; i++ {
			if end[i] < 0 { // parent first: arrives before its first child
				first := 1e18
				for c := i + 1; c < n; c++ {
					if parent[c] == i {
						first = min(first, end[c])
					}
				}
				end[i] = first - r.Float64()
			}
		}
		ids := make([]pcommon.SpanID, n)
		for i := range ids {
			ids[i] = spanID(nextSpan * 0x9e3779b97f4a7c15)
			nextSpan++
		}
		for i := 0; i < n; i++ {
			never := (i == 0 && n > 1 && r.IntN(4) == 0) || (i > 0 && r.IntN(30) == 0)
			if never {
				continue
			}
			s := tspan{trace: tid, id: ids[i], name: fmt.Sprintf("t%d.s%d", t, i)}
			if p := parent[i]; p >= 0 {
				s.parent = ids[p]
			}
			all = append(all, timed{s, end[i]})
		}
	}
	slices.SortStableFunc(all, func(a, b timed) int {
		switch {
		case a.end < b.end:
			return -1
		case a.end > b.end:
			return 1
		}
		return 0
	})
	w := workload{spans: make([]tspan, len(all))}
	for i, a := range all {
		w.spans[i] = a.s
	}
	return w
}

// batches cuts the arrival sequence into random batch sizes.
func (w workload) batches(r *rand.Rand, maxBatch int) [][]tspan {
	var res [][]tspan
	for i := 0; i < len(w.spans); {
		n := min(1+r.IntN(maxBatch), len(w.spans)-i)
		res = append(res, w.spans[i:i+n])
		i += n
	}
	return res
}

func build(bs [][]tspan) []ptrace.Traces {
	out := make([]ptrace.Traces, len(bs))
	for i, b := range bs {
		out[i] = batch(b)
	}
	return out
}

// TestPropertyInvariants: with the shipped behaviour (a prefix recorded in
// the trace's slot, per-span state once it is full or segment 0 closes),
// with per-span state from the first span (the knob tests can turn), and
// with a window of closed segments narrowed to a few segments (so that
// lifecycle traces outgrow it), every invariant holds exactly: invariant 3
// breaks only where a parent link is counted as lost, or where the parent
// arrived in a segment that had left the window (checkInvariants knows the
// arrival order).
func TestPropertyInvariants(t *testing.T) {
	for _, mode := range []string{"default", "track-all", "window", "window-track-all"} {
		var rerooted, total, forgotten, forgottenSegs int64
		for seed := uint64(1); seed <= 60; seed++ {
			t.Run(fmt.Sprint(mode, "/", seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				w := genWorkload(r, 40)
				maxSpans := 2 + r.IntN(30)
				if strings.HasPrefix(mode, "window") {
					narrowWindow(t, 1+seed%3, 1+int(seed/3%3))
					maxSpans = 2 + r.IntN(6)
				}
				tt := componenttest.NewTelemetry()
				defer func() { require.NoError(t, tt.Shutdown(t.Context())) }()
				var opts []segment.Option
				if strings.HasSuffix(mode, "track-all") {
					opts = append(opts, segment.WithPerSpanStateFromStart())
				}
				p := newCore(t, testConfig(maxSpans), newFakeClock(), telemetrySettings(tt), opts...)
				outs := run(t, p, build(w.batches(r, 64)))
				v := checkInvariants(w.spans, outs, maxSpans)
				require.Empty(t, v.hard, "maxSpans=%d", maxSpans)
				lost := counterValue(t, tt, "otelcol_processor_lifecycle_identity_parent_links_lost")
				assert.LessOrEqual(t, int64(v.lost), lost, "maxSpans=%d: %v", maxSpans, v.trees)
				fs := counterValue(t, tt, mForgotten)
				if v.forgotten > 0 {
					assert.Positive(t, fs, "a parent left the window, yet no segment was counted as forgotten")
				}
				rerooted += counterValue(t, tt, mRerooted)
				forgotten += int64(v.forgotten)
				forgottenSegs += fs
				total += int64(len(w.spans))
				require.NoError(t, p.shutdown(t.Context()))
			})
		}
		t.Logf("%s: %d of %d spans re-rooted; %d kept a parent that had left the window; %d segments forgotten", mode, rerooted, total, forgotten, forgottenSegs)
		if strings.HasPrefix(mode, "window") {
			assert.Positive(t, forgotten, "%s: the workload must reach the window", mode)
		}
	}
}

// TestPropertyEvictionAndAge: time moves, segments close by age, state is
// dropped by idle timeout and max_traces; invariants 1, 2, 4, 5 still hold
// and no output trace ever exceeds 2 x max_spans, even for traces that
// continue after their state was dropped.
func TestPropertyEvictionAndAge(t *testing.T) {
	for seed := uint64(200); seed < 230; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			w := genWorkload(r, 40)
			maxSpans := 2 + r.IntN(30)
			cfg := randomEvictionConfig(r, maxSpans)
			clock := newFakeClock()
			p := newCore(t, cfg, clock, nopSettings())
			var outs []ptrace.Traces
			for _, b := range build(w.batches(r, 32)) {
				clock.Advance(time.Duration(r.IntN(1500)) * time.Millisecond)
				outs = append(outs, run(t, p, []ptrace.Traces{b})...)
			}
			v := checkInvariants(w.spans, outs, maxSpans)
			require.Empty(t, v.hard)
		})
	}
}

// TestPropertyDeterministicIDs: two instances fed the same spans in the same
// order, cut into different batches, put every span in the same segment.
func TestPropertyDeterministicIDs(t *testing.T) {
	for seed := uint64(300); seed < 315; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		w := genWorkload(r, 30)
		maxSpans := 2 + r.IntN(20)
		a := collect(run(t, newCore(t, testConfig(maxSpans), newFakeClock(), nopSettings()), build(w.batches(r, 64))))
		b := collect(run(t, newCore(t, testConfig(maxSpans), newFakeClock(), nopSettings()), build(w.batches(r, 7))))
		require.Len(t, b, len(a))
		got := map[string]outSpan{}
		for _, o := range b {
			got[o.name] = o
		}
		for _, o := range a {
			g := got[o.name]
			require.Equal(t, o.trace, g.trace, "seed %d span %s", seed, o.name)
			require.Equal(t, o.parent, g.parent, "seed %d span %s", seed, o.name)
		}
	}
}
