package segment

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSeenSetNoFalseNegatives: every fingerprint added is found, whether the
// set filled or not; a full set refuses new fingerprints and changes nothing.
func TestSeenSetNoFalseNegatives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	e := New(testConfig(1), epoch)
	for round := 0; round < 2000; round++ {
		var ss seenSet
		var in []uint16
		for i := 0; i < 16; i++ {
			fp := e.seenFP(r.Uint64())
			if round%3 == 0 {
				fp = uint16(1 + r.IntN(6)) // many duplicates
			}
			before := ss
			if ss.add(fp) {
				in = append(in, fp)
			} else {
				assert.Equal(t, before, ss, "a refused add changes nothing")
			}
		}
		for _, fp := range in {
			require.True(t, ss.has(fp))
		}
	}
}

// TestNamedSlab: per-trace lists in one slab, exact membership, reuse of
// freed entries.
func TestNamedSlab(t *testing.T) {
	var n namedSlab
	var a, b int32
	for id := uint64(1); id <= 4; id++ {
		n.push(&a, id)
		n.push(&b, 100+id)
	}
	found, length := n.find(a, 1)
	assert.True(t, found)
	assert.Equal(t, 3, length)
	found, length = n.find(a, 101)
	assert.False(t, found)
	assert.Equal(t, 4, length)
	assert.True(t, n.remove(&a, 3))
	assert.False(t, n.remove(&a, 3))
	var got []uint64
	n.drain(&a, func(id uint64) { got = append(got, id) })
	assert.ElementsMatch(t, []uint64{1, 2, 4}, got)
	assert.Zero(t, a)
	size := len(n.entries)
	n.push(&a, 7)
	assert.Equal(t, size, len(n.entries), "freed entries are reused")
	for id := uint64(101); id <= 104; id++ {
		found, _ := n.find(b, id)
		assert.True(t, found)
	}
}
