package segment

import (
	"encoding/binary"
	"time"
)

var epoch = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

func testConfig(maxSpans int) Config {
	return Config{MaxSpans: maxSpans, MaxAge: 10 * time.Minute, IdleTimeout: 5 * time.Minute, MaxTraces: 100_000}
}

// tid is a trace ID derived from n, never empty.
func tid(n uint64) TraceID {
	var t TraceID
	binary.BigEndian.PutUint64(t[:8], n|1<<63)
	binary.BigEndian.PutUint64(t[8:], n*0x9e3779b97f4a7c15)
	return t
}

// lifecycle feeds one long-lived trace of n spans to e, in batches of 1000
// (one Begin each): a lifecycle root (span 1, never arriving) and handlers
// with four children each, children first. after is called after each batch.
func lifecycle(e *Engine, t TraceID, n int, after func(spans int)) {
	id := uint64(2)
	for made := 0; made < n; {
		e.Begin(epoch)
		for start := made; made < n && (made == start || made%1000 != 0); {
			handler := id
			id++
			for c := 0; c < 4 && made < n-1; c++ {
				e.Assign(t, id, handler, 0)
				id++
				made++
			}
			e.Assign(t, handler, 1, 0)
			made++
		}
		if after != nil {
			after(made)
		}
	}
}

// stateOf returns the per-span state of trace t, nil if it has none.
func stateOf(e *Engine, t TraceID) *splitState {
	i, ok := e.table.get(t)
	if !ok {
		return nil
	}
	return e.detail(e.table.at(i))
}
