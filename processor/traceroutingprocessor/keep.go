package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"math/bits"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// keepSet marks the resources of a request that leave it: the others were
// dropped or joined a resource before them. Up to 512 resources it lives
// on the stack; a bigger request allocates it once.
type keepSet struct {
	words []uint64
	buf   [8]uint64
	n     int // how many are marked
}

func newKeepSet(resources int) keepSet {
	var k keepSet
	if w := (resources + 63) / 64; w > len(k.buf) {
		k.words = make([]uint64, w)
	}
	return k
}

func (k *keepSet) bits() []uint64 {
	if k.words != nil {
		return k.words
	}
	return k.buf[:]
}

func (k *keepSet) add(i int) {
	k.bits()[i/64] |= 1 << (i % 64)
	k.n++
}

func (k *keepSet) has(i int) bool {
	return k.bits()[i/64]&(1<<(i%64)) != 0
}

// apply leaves only the marked resources in td, or in the Traces it
// returns. RemoveIf resets every resource it removes, which costs as much
// as the rest of the work on a resource that joined another; when most go,
// as in a request of one-span resources that fold into one, moving the few
// kept ones into a new Traces costs one allocation per kept resource
// instead. When most stay, RemoveIf costs less than those allocations.
func (k *keepSet) apply(td ptrace.Traces) ptrace.Traces {
	rss := td.ResourceSpans()
	n := rss.Len()
	switch {
	case k.n == n:
		return td
	case k.n <= n-k.n:
		out := ptrace.NewTraces()
		dst := out.ResourceSpans()
		dst.EnsureCapacity(k.n)
		for w, word := range k.bits() {
			for ; word != 0; word &= word - 1 {
				rss.At(w*64 + bits.TrailingZeros64(word)).MoveTo(dst.AppendEmpty())
			}
		}
		return out
	default:
		i := 0
		rss.RemoveIf(func(ptrace.ResourceSpans) bool {
			i++
			return !k.has(i - 1)
		})
		return td
	}
}
