package segment

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOffHeapAllocFreeRelease(t *testing.T) {
	mem := newOffHeap()
	e := mem.allocIndexEntries(1000)
	require.Len(t, e, 1000)
	for i := range e {
		require.Zero(t, e[i], "memory comes zeroed")
		e[i] = uint32(i)
	}
	c := mem.allocChunk()
	for i := range c {
		require.Equal(t, traceState{}, c[i], "memory comes zeroed")
	}
	c[chunkSize-1].links = 7
	assert.GreaterOrEqual(t, mem.held(), int64(1000*4+unsafe.Sizeof(*c)))

	mem.freeIndexEntries(e)
	assert.Equal(t, int64(unsafe.Sizeof(*c)), mem.held(), "freed entries no longer counted")
	mem.release()
	assert.Zero(t, mem.held(), "release gives back the rest")
	mem.release() // twice is harmless
	assert.Zero(t, mem.held())
}

func TestOffHeapUnreachableIsUnmapped(t *testing.T) {
	var maps *offHeapMaps
	func() {
		mem := newOffHeap()
		mem.allocWords(1 << 16)
		maps = mem.m // the cleanup's argument: reachable, the offHeap is not
	}()
	assertCleanupUnmaps(t, maps.size.Load)
}

// assertCleanupUnmaps fails t unless mapped, which reads what an owner of
// mappings that is no longer reachable still has mapped (without keeping
// it reachable), drops to zero once the garbage collector ran its cleanup.
func assertCleanupUnmaps(t *testing.T, mapped func() int64) {
	require.NotZero(t, mapped())
	assert.Eventually(t, func() bool {
		runtime.GC()
		return mapped() == 0
	}, 10*time.Second, 10*time.Millisecond, "the cleanup unmaps what an unreachable owner held")
}

// TestTraceTableOffHeap: the trace table's slots and index, and the set of
// evicted traces, are held outside the Go heap while traces are tracked, and
// given back by Reset.
func TestTraceTableOffHeap(t *testing.T) {
	cfg := testConfig(2000)
	cfg.MaxTraces = 20_000
	e := New(cfg, epoch)
	e.Begin(epoch)
	for tr := uint64(1); tr <= 30_000; tr++ {
		for s := uint64(10); s >= 1; s-- {
			e.Assign(tid(tr), s, min(s-1, 1), 0)
		}
	}
	require.Equal(t, 20_000, e.Tracked())
	require.NotNil(t, e.evicted, "max_traces evicted traces")
	held := e.table.mem.held()
	// 56-byte slots and 4-byte index entries at most four fifths full, plus two
	// filters of 24 bits per remembered eviction (at least 65,536).
	slots := int64(20_000 * unsafe.Sizeof(traceState{}))
	assert.Greater(t, held, slots+2*65_536*3, "slots, index and evicted set are off the heap")
	assert.Less(t, held, 2*slots+2*65_536*3+int64(8*4*20_000), "and nothing else")
	assert.Equal(t, held, e.OffHeapBytes())
	mem := e.table.mem
	e.Reset()
	assert.Zero(t, mem.held(), "Reset gives the state back")
	// An empty table (its first index) is left for the engine used again.
	assert.Equal(t, int64(minIndexSize*4), e.table.mem.held())
}
