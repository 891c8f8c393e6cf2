package lifecycleidentityprocessor

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// decodeFuzz turns arbitrary bytes into a configuration and span batches.
// Byte 0: max_spans (1-8), whether per-span state starts at the first span
// (a test knob; otherwise the shipped behaviour), whether time moves, and
// then max_traces, or else the window of closed segments: the default or
// narrowed to 1 or 2 generations of 1 to 3 segments (the fuzzer's traces
// have at most 31 distinct span IDs: only a narrow window is reachable). Then 3 bytes per span: trace (4 traces), span ID
// (0-31, 0 = empty) with a batch break in the top bit, parent ID (0 = none)
// with a clock step in the top bits.
func decodeFuzz(data []byte) (cfg *Config, trackAll, moveTime bool, window windowConfig, batches [][]tspan, steps []time.Duration) {
	cfg = createDefaultConfig().(*Config)
	window = defaultWindow
	if len(data) == 0 {
		return cfg, false, false, window, nil, nil
	}
	cfg.Split.MaxSpans = 1 + int(data[0]&7)
	trackAll = data[0]&8 != 0
	moveTime = data[0]&16 != 0
	if moveTime {
		cfg.Split.MaxAge = 3 * time.Second
		cfg.Split.IdleTimeout = 5 * time.Second
		cfg.Split.MaxTraces = 1 + int(data[0]>>5)
	} else if w := data[0] >> 5 & 3; w != 0 {
		window = windowConfig{uint64(w), 1 + int(data[0]>>7)}
	}
	var cur []tspan
	var step time.Duration
	data = data[1:]
	for i := 0; i+2 < len(data) && i < 3*1024; i += 3 {
		b0, b1, b2 := data[i], data[i+1], data[i+2]
		cur = append(cur, tspan{
			trace:  traceID(uint64(b0 & 3)),
			id:     spanID(uint64(b1 & 31)),
			parent: spanID(uint64(b2 & 31)),
			name:   fmt.Sprint(len(batches), ".", len(cur)),
		})
		if moveTime {
			step += time.Duration(b2>>5) * time.Second
		}
		if b1&0x80 != 0 {
			batches, steps = append(batches, cur), append(steps, step)
			cur, step = nil, 0
		}
	}
	if len(cur) > 0 {
		batches, steps = append(batches, cur), append(steps, step)
	}
	return cfg, trackAll, moveTime, window, batches, steps
}

// uniqueIDs reports whether no trace repeats a span ID and no span is its
// own parent: only then is a tree well defined.
func uniqueIDs(in []tspan) bool {
	seen := map[[2]any]bool{}
	for _, s := range in {
		if s.id.IsEmpty() || s.id == s.parent {
			return false
		}
		k := [2]any{s.trace, s.id}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0b, 0, 1, 2, 0, 2, 3, 0, 3, 0, 0x80, 4, 2})
	f.Add([]byte{0x1a, 1, 1, 0, 1, 0x82, 1, 2, 3, 0xe1, 3, 0x84, 0, 0, 5, 1, 0, 6, 1})
	f.Add([]byte{0x08, 0, 5, 1, 0, 6, 1, 0, 7, 1, 0, 8, 1, 0, 1, 0, 1, 9, 0, 1, 10, 0})
	// Window of one generation of one segment, max_spans 1, per-span state
	// from the first span: a parent arrives
	// first, its child three segments later (left the window), a child names
	// a parent that arrives after its segment left the window.
	f.Add([]byte{0x28, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 1, 0, 6, 7, 0, 8, 0, 0, 9, 0, 0, 7, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// A watchdog: a hang crashes the worker with every goroutine's stack,
		// and the fuzzer keeps the input.
		dog := time.AfterFunc(10*time.Second, func() { panic("FuzzSplit: one input ran for 10s") })
		defer dog.Stop()
		cfg, trackAll, _, window, batches, steps := decodeFuzz(data)
		narrowWindow(t, window.genSegs, window.gens)
		clock := newFakeClock()
		tt := newTelemetry(t)
		var opts []segment.Option
		if trackAll {
			opts = append(opts, segment.WithPerSpanStateFromStart())
		}
		p := newCore(t, cfg, clock, telemetrySettings(tt), opts...)
		var in []tspan
		var outs []ptrace.Traces
		for i, b := range batches {
			clock.Advance(steps[i])
			in = append(in, b...)
			outs = append(outs, run(t, p, []ptrace.Traces{batch(b)})...)
		}
		v := checkInvariants(in, outs, cfg.Split.MaxSpans)
		if len(v.hard) > 0 {
			t.Fatalf("max_spans %d: %v", cfg.Split.MaxSpans, v.hard)
		}
		// Invariant 3, with the shipped behaviour and with per-span state from
		// the first span: a tree breaks only where a lost parent link is
		// counted, or where the parent had left the window of closed segments
		// when the child arrived (checkInvariants leaves those out of lost),
		// unless state was dropped (eviction, counted apart).
		if uniqueIDs(in) && counterValue(t, tt, mEvicted) == 0 {
			if lost := counterValue(t, tt, mLinksLost); int64(v.lost) > lost {
				t.Fatalf("max_spans %d track-all %v window %v: %d parents lost, %d counted: %v", cfg.Split.MaxSpans, trackAll, window, v.lost, lost, v.trees)
			}
			if v.forgotten > 0 && counterValue(t, tt, mForgotten) == 0 {
				t.Fatalf("window %v: %d spans kept a parent that left the window, no segment counted as forgotten", window, v.forgotten)
			}
		}
		if err := p.shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
