package lifecycleidentityprocessor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// forest is the set of trees of a workload, whatever order its spans are
// sent in: the spans of each trace and the children of each span.
type forest struct {
	spans    []tspan
	traces   [][]int       // span indices per trace, in order of first appearance
	children map[int][]int // span index -> indices of its children that arrive
	roots    [][]int       // per trace: spans whose parent is empty or never arrives
}

func newForest(spans []tspan) forest {
	f := forest{spans: spans, children: map[int][]int{}}
	byID := make(map[[2]any]int, len(spans))
	traceIdx := map[pcommon.TraceID]int{}
	for i, s := range spans {
		byID[[2]any{s.trace, s.id}] = i
		ti, ok := traceIdx[s.trace]
		if !ok {
			ti = len(f.traces)
			traceIdx[s.trace] = ti
			f.traces = append(f.traces, nil)
			f.roots = append(f.roots, nil)
		}
		f.traces[ti] = append(f.traces[ti], i)
	}
	for i, s := range spans {
		if pi, ok := byID[[2]any{s.trace, s.parent}]; ok && !s.parent.IsEmpty() {
			f.children[pi] = append(f.children[pi], i)
		} else {
			ti := traceIdx[s.trace]
			f.roots[ti] = append(f.roots[ti], i)
		}
	}
	return f
}

// orderSpec describes one arrival order of a forest's spans.
type orderSpec struct {
	name string
	// parentFirst is the probability that a span arrives before its
	// children (0: children always first, as spans end before their
	// parents; 1: parents always first).
	parentFirst float64
	shuffle     bool    // ignore the trees: a random permutation
	dropParent  float64 // probability that a span with children never arrives
	dropRoot    float64 // probability that a root with children never arrives
	rootsLast   bool    // every root arrives after all other spans (a lifecycle root, hours later)
	interleave  bool    // traces interleaved at random, else one after another
}

var arrivalOrders = []orderSpec{
	{name: "children-first", interleave: true},
	{name: "children-first-sequential"},
	{name: "mostly-children-first", parentFirst: 0.1, interleave: true},
	{name: "half-parents-first", parentFirst: 0.5, interleave: true},
	{name: "parents-first", parentFirst: 1, interleave: true},
	{name: "shuffled", shuffle: true},
	{name: "mostly-children-first-parents-never", parentFirst: 0.1, dropParent: 0.15, dropRoot: 0.4, interleave: true},
	{name: "children-first-roots-last", rootsLast: true, interleave: true},
	{name: "mostly-children-first-roots-last-some-never", parentFirst: 0.1, dropRoot: 0.3, rootsLast: true, interleave: true},
}

// order returns the spans of f in the arrival order spec describes.
func (f forest) order(r *rand.Rand, spec orderSpec) []tspan {
	if spec.shuffle {
		out := slices.Clone(f.spans)
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	var lastRoots []int
	perTrace := make([][]int, len(f.traces))
	for ti := range f.traces {
		var seq []int
		var visit func(i int, root bool)
		visit = func(i int, root bool) {
			kids := slices.Clone(f.children[i])
			r.Shuffle(len(kids), func(a, b int) { kids[a], kids[b] = kids[b], kids[a] })
			drop := len(kids) > 0 && ((root && r.Float64() < spec.dropRoot) || (!root && r.Float64() < spec.dropParent))
			first := r.Float64() < spec.parentFirst
			emit := func() {
				switch {
				case drop:
				case root && spec.rootsLast:
					lastRoots = append(lastRoots, i)
				default:
					seq = append(seq, i)
				}
			}
			if first {
				emit()
			}
			for _, k := range kids {
				visit(k, false)
			}
			if !first {
				emit()
			}
		}
		for _, root := range f.roots[ti] {
			visit(root, true)
		}
		perTrace[ti] = seq
	}
	var idx []int
	if spec.interleave {
		// A uniformly random merge of the traces' sequences.
		left := 0
		for _, s := range perTrace {
			left += len(s)
		}
		for ; left > 0; left-- {
			k := r.IntN(left)
			for ti, s := range perTrace {
				if k < len(s) {
					idx = append(idx, s[0])
					perTrace[ti] = s[1:]
					break
				}
				k -= len(s)
			}
		}
	} else {
		for _, s := range perTrace {
			idx = append(idx, s...)
		}
	}
	r.Shuffle(len(lastRoots), func(a, b int) { lastRoots[a], lastRoots[b] = lastRoots[b], lastRoots[a] })
	idx = append(idx, lastRoots...)
	out := make([]tspan, len(idx))
	for k, i := range idx {
		out[k] = f.spans[i]
	}
	return out
}

// TestPropertyArrivalOrders: the same random trees, sent in many arrival
// orders (children first, parents first, mixed, shuffled, with parents and
// roots that never arrive or arrive last) and cut into batches of varied
// sizes, keep invariants 1, 2, 4 and 5 exactly, and invariant 3 breaks only
// where a parent link is counted as lost; with the shipped behaviour and with
// per-span state from the first span.
func TestPropertyArrivalOrders(t *testing.T) {
	batchSizes := []int{1, 3, 16, 64, 512, 1 << 20}
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		trees := newForest(genWorkload(r, 30).spans)
		for _, spec := range arrivalOrders {
			maxSpans := 1 + r.IntN(4) // small: segments fill with late parents
			if r.IntN(2) == 0 {
				maxSpans = 1 + r.IntN(40)
			}
			in := trees.order(r, spec)
			require.NotEmpty(t, in)
			if spec.dropParent == 0 && spec.dropRoot == 0 {
				require.Len(t, in, len(trees.spans), "%s sends every span", spec.name)
			}
			maxBatch := batchSizes[r.IntN(len(batchSizes))]
			batches := workload{spans: in}.batches(r, maxBatch)
			for _, mode := range []string{"default", "track-all"} {
				t.Run(fmt.Sprintf("%d/%s/%s/batch%d", seed, spec.name, mode, maxBatch), func(t *testing.T) {
					tt := componenttest.NewTelemetry()
					defer func() { require.NoError(t, tt.Shutdown(t.Context())) }()
					var opts []segment.Option
					if mode == "track-all" {
						opts = append(opts, segment.WithPerSpanStateFromStart())
					}
					p := newCore(t, testConfig(maxSpans), newFakeClock(), telemetrySettings(tt), opts...)
					outs := run(t, p, build(batches)) // build copies: each run gets fresh pdata
					v := checkInvariants(in, outs, maxSpans)
					require.Empty(t, v.hard, "maxSpans=%d", maxSpans)
					lost := counterValue(t, tt, mLinksLost)
					assert.LessOrEqual(t, int64(v.lost), lost, "maxSpans=%d: %v", maxSpans, v.trees)
					require.NoError(t, p.shutdown(t.Context()))
				})
			}
		}
	}
}

// TestArrivalOrdersAreVaried guards the generator above: the orders do what
// their names say, so the property test really sees children first,
// parents first, missing parents and late roots.
func TestArrivalOrdersAreVaried(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 11))
	trees := newForest(genWorkload(r, 30).spans)
	parentsBeforeChild := func(in []tspan) (before, after int) {
		pos := map[pcommon.SpanID]int{}
		for i, s := range in {
			pos[s.id] = i
		}
		for i, s := range in {
			if pi, ok := pos[s.parent]; ok && !s.parent.IsEmpty() {
				if pi < i {
					before++
				} else {
					after++
				}
			}
		}
		return before, after
	}
	rootIDs := map[pcommon.SpanID]bool{}
	for _, rs := range trees.roots {
		for _, i := range rs {
			rootIDs[trees.spans[i].id] = true
		}
	}
	for _, spec := range arrivalOrders {
		in := trees.order(r, spec)
		before, after := parentsBeforeChild(in)
		switch spec.parentFirst {
		case 0:
			if !spec.shuffle {
				assert.Zero(t, before, "%s: no parent before its child", spec.name)
			}
		case 1:
			assert.Zero(t, after, "%s: no parent after its child", spec.name)
		default:
			assert.Positive(t, before, spec.name)
			assert.Positive(t, after, spec.name)
			if spec.parentFirst < 0.5 {
				assert.Greater(t, after, 3*before, "%s: children first mostly", spec.name)
			}
		}
		if spec.dropParent > 0 || spec.dropRoot > 0 {
			assert.Less(t, len(in), len(trees.spans), "%s: some spans never arrive", spec.name)
		}
		if spec.rootsLast {
			var sawRoot bool
			for _, s := range in {
				isRoot := rootIDs[s.id]
				if sawRoot {
					assert.True(t, isRoot, "%s: roots come last", spec.name)
				}
				sawRoot = sawRoot || isRoot
			}
		}
	}
	// The shuffled order has both.
	before, after := parentsBeforeChild(trees.order(r, orderSpec{shuffle: true}))
	assert.Positive(t, before)
	assert.Positive(t, after)
}
