package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

import "math"

// Option changes how an engine works inside, for tests only: the shipped
// processor passes none. Each one makes a rare path common so that tests
// reach it with few spans.
type Option func(*options)

type options struct {
	trackSpans uint32 // span count beyond which per-span state begins
	trackAge   int64  // segment age at which per-span state begins
	fpMask     uint16 // bits kept of the prefix's fingerprints
	genSegs    uint64 // segments per generation of the window (window.go)
	gens       int    // generations in the window
}

func defaultOptions() options {
	return options{
		trackSpans: math.MaxUint32, // the prefix decides when per-span state begins (prefix.go)
		trackAge:   math.MaxInt64,
		fpMask:     0xffff,
		genSegs:    genSegments,
		gens:       windowGens,
	}
}

// WithPerSpanStateFromStart makes every trace take per-span state at its
// first span, skipping the prefix (prefix.go).
func WithPerSpanStateFromStart() Option {
	return func(o *options) { o.trackSpans, o.trackAge = 0, 0 }
}

// WithFingerprintMask narrows the prefix's fingerprints to mask, to make
// their false positives common.
func WithFingerprintMask(mask uint16) Option {
	return func(o *options) { o.fpMask = mask }
}

// WithWindow makes the window of closed segments gens generations of
// genSegs segments each.
func WithWindow(genSegs uint64, gens int) Option {
	return func(o *options) { o.genSegs, o.gens = genSegs, gens }
}

// Window is the default shape of the window: segments per generation and
// generations.
func Window() (genSegs uint64, gens int) { return genSegments, windowGens }
