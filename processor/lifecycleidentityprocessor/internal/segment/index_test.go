package segment

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTraceTableAgainstMap: random inserts, lookups and removals, with heavy
// hash collisions, against a Go map.
func TestTraceTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab := newTraceTable()
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
	for i := tab.head; i != nilIdx; i = tab.at(i).next {
		n++
	}
	require.Equal(t, len(ref), n)
	var absent TraceID
	absent[5] = 9
	_, ok := tab.get(absent)
	require.False(t, ok)
}
