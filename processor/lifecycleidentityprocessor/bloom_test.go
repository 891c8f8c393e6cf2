package lifecycleidentityprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBloomNoFalseNegativesAndFewFalsePositives(t *testing.T) {
	var l layeredBloom
	l.first = 2000
	const n = 50_000
	for i := uint64(1); i <= n; i++ {
		l.add(i) // sequential keys: the filter must mix them
	}
	for i := uint64(1); i <= n; i++ {
		if !l.has(i) {
			t.Fatalf("false negative for %d", i)
		}
	}
	fp := 0
	for i := uint64(n + 1); i <= 2*n; i++ {
		if l.has(i) {
			fp++
		}
	}
	rate := float64(fp) / n
	t.Logf("layers %d, false positives %.3f%%", len(l.layers), 100*rate)
	assert.Less(t, rate, 0.02)

	e := newEvictedSet(1000)
	for i := uint64(0); i < 1500; i++ {
		e.add(mix64(i))
	}
	for i := uint64(500); i < 1500; i++ {
		assert.True(t, e.has(mix64(i)), "the last capacity evictions are remembered")
	}
}
