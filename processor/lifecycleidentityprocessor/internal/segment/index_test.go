package segment

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTraceTableAgainstMap: random inserts, lookups and removals, with heavy
// hash collisions, against a Go map.
func TestTraceTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab := newTraceTable(1 << 20)
	ref := map[TraceID]int32{}
	var live []TraceID
	for op := 0; op < 200_000; op++ {
		switch x := r.IntN(10); {
		case x < 5 || len(live) == 0:
			var id TraceID
			id[0] = byte(r.IntN(4)) // few distinct hashes for some IDs
			if r.IntN(2) == 0 {
				id[1], id[2], id[3] = byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())
			}
			id[15] = 1
			if _, ok := ref[id]; ok {
				continue
			}
			ref[id] = tab.insert(id)
			live = append(live, id)
		case x < 8:
			k := r.IntN(len(live))
			id := live[k]
			tab.remove(ref[id])
			delete(ref, id)
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		default:
			id := live[r.IntN(len(live))]
			i, ok := tab.get(id)
			require.True(t, ok)
			require.Equal(t, ref[id], i)
			tab.touch(i)
		}
		require.Equal(t, len(ref), tab.n)
	}
	for id, i := range ref {
		got, ok := tab.get(id)
		require.True(t, ok)
		require.Equal(t, i, got)
	}
	// The LRU list holds exactly the live slots.
	n := 0
	for i := tab.head; i != nilIdx; i = tab.at(i).next() {
		n++
	}
	require.Equal(t, len(ref), n)
	var absent TraceID
	absent[5] = 9
	_, ok := tab.get(absent)
	require.False(t, ok)
}

// TestTraceIndexOverflow: trace IDs that all hash alike (the two halves of
// each XOR to the same value) make one run longer than an entry's distance
// can say; the entries past it go to the overflow map, and every ID is
// still found, exactly, through inserts, removals and growth.
func TestTraceIndexOverflow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tab := newTraceTable(1000)
	ref := map[TraceID]int32{}
	collide := func(n uint64) TraceID {
		var id TraceID
		binary.LittleEndian.PutUint64(id[:8], n)
		binary.LittleEndian.PutUint64(id[8:], n^0x5555)
		return id
	}
	for n := uint64(1); n <= 300; n++ {
		id := collide(n)
		ref[id] = tab.insert(id)
		if n%3 == 0 { // others between them, so the index grows meanwhile
			var o TraceID
			binary.LittleEndian.PutUint64(o[:8], r.Uint64())
			binary.LittleEndian.PutUint64(o[8:], r.Uint64())
			ref[o] = tab.insert(o)
		}
	}
	require.NotEmpty(t, tab.index.overflow, "a run longer than maxDist spills")
	require.LessOrEqual(t, len(tab.index.overflow), 300-maxDist-1)
	check := func() {
		for id, i := range ref {
			got, ok := tab.get(id)
			require.True(t, ok)
			require.Equal(t, i, got)
		}
		_, ok := tab.get(collide(100_000))
		require.False(t, ok, "an absent ID with the same hash is not found")
	}
	check()
	for id, i := range ref { // remove half, in map order
		if r.IntN(2) == 0 {
			tab.remove(i)
			delete(ref, id)
			_, ok := tab.get(id)
			require.False(t, ok)
		}
	}
	check()
	require.Equal(t, len(ref), tab.n)
}
