package segment

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

func TestBloomNoFalseNegativesAndFewFalsePositives(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	var l closedWindow
	l.open(a, 0, windowGens, 2000) // one generation sized for 2000 keys gets 50,000: it chains filters
	const n = 50_000
	for i := uint64(1); i <= n; i++ {
		l.add(a, i) // sequential keys: the filter must mix them
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
	t.Logf("filters %d, false positives %.3f%%", len(l.gens[0].filters), 100*rate)
	assert.Less(t, rate, 0.02)
	l.release(a)
	assert.Zero(t, a.inUse(), "the chained filters' blocks are given back with the first's")

	mem := newOffHeap() // the set's bits live there: released at the end, not before
	defer mem.release()
	e := newEvictedSet(mem, 1000)
	for i := uint64(0); i < 1500; i++ {
		e.add(mix64(i))
	}
	for i := uint64(500); i < 1500; i++ {
		assert.True(t, e.has(mix64(i)), "the last capacity evictions are remembered")
	}
}

// TestClosedWindowForgetsOldestGeneration: generation g is forgotten when
// generation g+windowGens opens, and its filter is reused, so a trace in
// steady state allocates nothing for the window.
func TestClosedWindowForgetsOldestGeneration(t *testing.T) {
	a := newSlabAlloc()
	defer a.release()
	var w closedWindow
	const per = 1000
	fill := func(g uint64) {
		_, forgot := w.open(a, g, windowGens, per)
		assert.Equal(t, g >= windowGens, forgot, "generation %d", g)
		for i := uint64(0); i < per; i++ {
			w.add(a, g<<32|i)
		}
	}
	for g := uint64(0); g < windowGens; g++ {
		fill(g)
	}
	for g := uint64(0); g < windowGens; g++ {
		assert.True(t, w.has(g<<32|7), "generation %d is in the window", g)
	}
	fill(windowGens)
	missing := 0
	for i := uint64(0); i < per; i++ {
		if !w.has(i) { // generation 0
			missing++
		}
	}
	assert.Greater(t, missing, per*9/10, "generation 0 is forgotten (but for false positives)")
	for g := uint64(1); g <= windowGens; g++ {
		assert.True(t, w.has(g<<32|7), "generation %d is in the window", g)
	}
	held := w.bytes()
	g := uint64(windowGens + 1)
	allocs := testing.AllocsPerRun(50, func() {
		fill(g)
		g++
	})
	assert.Zero(t, allocs, "opening a generation in steady state")
	assert.Equal(t, held, w.bytes(), "memory held is flat")
	var blocks int64
	for _, g := range w.gens {
		for _, b := range g.filters {
			blocks += int64(cap(b.bits)) * 8
		}
	}
	assert.Equal(t, blocks, a.inUse(), "what the window counts (the capacity of its filters' bits) is what the slabs hold for it")
	w.release(a)
	assert.Zero(t, a.inUse(), "release gives every block back")
}

// TestStructSizes pins the sizes the comments state on 64-bit platforms
// (splitstate.go: a trace with per-span state that never splits holds 48
// bytes of splitState, not 224 with splitExtra).
func TestStructSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes stated for 64-bit platforms")
	}
	assert.Equal(t, uintptr(56), unsafe.Sizeof(splitState{}))
	assert.Equal(t, uintptr(168), unsafe.Sizeof(splitExtra{}))
	assert.Equal(t, uintptr(56), unsafe.Sizeof(bloom{}))
}
