package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import "encoding/binary"

// recentCache remembers, for the batch being processed, the slots of the
// traces it has seen: direct-mapped, 1024 entries (24 KB, in the first- and
// second-level caches). A batch interleaves the spans of its traces (100
// traces of 10 spans each in BenchmarkNeverSplit), so the one-entry cache
// (lastID) misses at almost every span; the index, 512 KB at the default
// max_traces, and the trace's slot, somewhere in 5.6 MB, cost a cache miss
// or two each lookup. With this cache only the first span of a trace in a
// batch pays them. It had 256 entries: then about a third of 100 traces
// shared an entry with another and paid at every span; at 1024 about a
// tenth do, and the engine alone took 53 to 55 ns a span on
// BenchmarkNeverSplit's stream instead of 61 to 63 (4096 entries: 51 to
// 54). An entry is valid only in the batch that wrote it (gen): a trace
// found there was already moved to the recent end of the LRU list in this
// batch. Evicting a trace clears its entry, its slot may be reused.
type recentCache struct {
	gen     uint32
	entries [recentSize]recentEntry
}

const (
	recentBits = 10
	recentSize = 1 << recentBits
)

type recentEntry struct {
	id   TraceID
	slot int32
	gen  uint32
}

// recentPos is where trace t goes in the cache: a cheap mix of its bytes
// (trace IDs are random; tests' are not, hence the multiply).
func recentPos(t *TraceID) int {
	x := binary.LittleEndian.Uint64(t[:8]) ^ binary.LittleEndian.Uint64(t[8:])
	return int((x * 0x9e3779b97f4a7c15) >> (64 - recentBits))
}

// next starts a new batch: every entry becomes stale.
func (c *recentCache) next() {
	c.gen++
	if c.gen == 0 { // wrapped: entries of gen 0 would look current
		c.entries = [recentSize]recentEntry{}
		c.gen = 1
	}
}

func (c *recentCache) get(t *TraceID) (int32, bool) {
	en := &c.entries[recentPos(t)]
	if en.gen == c.gen && en.id == *t {
		return en.slot, true
	}
	return 0, false
}

func (c *recentCache) put(t *TraceID, slot int32) {
	c.entries[recentPos(t)] = recentEntry{id: *t, slot: slot, gen: c.gen}
}

// drop forgets trace t, if it is there.
func (c *recentCache) drop(t *TraceID) {
	if en := &c.entries[recentPos(t)]; en.id == *t {
		en.gen = 0
	}
}
