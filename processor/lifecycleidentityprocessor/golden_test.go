package lifecycleidentityprocessor

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/metadata"
)

var update = flag.Bool("update", false, "regenerate the golden files in testdata/golden (one case per file)")

var goldenTrace = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}

// g builds a span of the golden trace; ids are small numbers for readability.
func g(name string, id, parent uint64) tspan {
	return tspan{trace: goldenTrace, id: spanID(id), parent: spanID(parent), name: name}
}

type goldenCase struct {
	name   string
	config func(*Config)
	input  func() ptrace.Traces
}

var goldenCases = []goldenCase{
	{
		// A trace far below max_spans passes untouched.
		name: "small_trace_untouched",
		input: func() ptrace.Traces {
			return batch([]tspan{g("db.query", 3, 2), g("handler", 2, 1), g("request", 1, 0)})
		},
	},
	{
		// max_spans 3: a lifecycle root R with seven handlers, which end (and
		// arrive) first. Segment 0 takes three, segments 1 and 2 the rest,
		// re-rooted with a link to R because R was named first in segment 0;
		// R arrives last and lands in segment 0.
		name:   "cut_at_max_spans",
		config: func(c *Config) { c.Split.MaxSpans = 3 },
		input: func() ptrace.Traces {
			return batch([]tspan{
				g("handler-1", 0x11, 0x1), g("handler-2", 0x12, 0x1), g("handler-3", 0x13, 0x1),
				g("handler-4", 0x14, 0x1), g("handler-5", 0x15, 0x1), g("handler-6", 0x16, 0x1),
				g("handler-7", 0x17, 0x1), g("lifecycle", 0x1, 0),
			})
		},
	},
	{
		// max_spans 4: handlers H and G arrive after their children, H's all in
		// segment 0, G's split across segments 0 and 1. Both join segment 0,
		// where they were first named; G's child in segment 1 was re-rooted.
		name:   "late_parent_joins_children_segment",
		config: func(c *Config) { c.Split.MaxSpans = 4 },
		input: func() ptrace.Traces {
			return batch([]tspan{
				g("h-child-1", 0x21, 0x2), g("h-child-2", 0x22, 0x2), g("h-child-3", 0x23, 0x2),
				g("g-child-1", 0x31, 0x3), g("g-child-2", 0x32, 0x3),
				g("handler-H", 0x2, 0x1), g("handler-G", 0x3, 0x1), g("lifecycle", 0x1, 0),
			})
		},
	},
	{
		// max_spans 3: a parent P that arrives before its child, in segment 0;
		// the child arrives after segment 0 closed, lands in segment 1 and is
		// re-rooted with a link to P.
		name:   "child_of_closed_segment_rerooted",
		config: func(c *Config) { c.Split.MaxSpans = 3 },
		input: func() ptrace.Traces {
			return batch([]tspan{
				g("a", 0x41, 0), g("parent-P", 0x42, 0), g("b", 0x43, 0),
				g("child-of-P", 0x44, 0x42), g("c", 0x45, 0),
			})
		},
	},
	{
		// Default schema, on_violation tag (not the default, count, which
		// changes nothing): each span shows what is wrong.
		name:   "identity_violations_tagged",
		config: func(c *Config) { c.Identity.OnViolation = OnViolationTag },
		input: func() ptrace.Traces {
			td := batch([]tspan{
				g("ok", 0x51, 0), g("missing", 0x52, 0), g("bad-type", 0x53, 0),
				g("bad-nonce", 0x54, 0), g("span-overrides-resource", 0x55, 0),
			})
			res := td.ResourceSpans().At(0).Resource().Attributes()
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			spans.At(0).Attributes().PutStr("component.name", "span-level-name")
			res.Remove("component.name")
			spans.At(1).Attributes().PutStr("component.name", "x")
			res.Remove("footprint.identifier") // only span 1 lacks it below
			for i := 0; i < spans.Len(); i++ {
				if i != 1 {
					spans.At(i).Attributes().PutStr("footprint.identifier", "fp-9")
				}
			}
			spans.At(2).Attributes().PutStr("component.name", "c")
			spans.At(2).Attributes().PutStr("footprint.revision", "seven")
			spans.At(3).Attributes().PutStr("component.name", "c")
			spans.At(3).Attributes().PutStr("process.nonce", "not-a-uuid")
			spans.At(4).Attributes().PutStr("component.name", "c")
			spans.At(4).Attributes().PutInt("footprint.solution", 42)
			return td
		},
	},
}

// goldenFile is one case: the request that goes in and what comes out, as
// OTLP JSON, indented so a reviewer can read a change in a diff.
type goldenFile struct {
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", tc.name+".json")
			var gf goldenFile
			if *update {
				gf.Input = tracesJSON(t, tc.input())
			} else {
				b, err := os.ReadFile(path)
				require.NoError(t, err, "run go test -update to create golden files")
				require.NoError(t, json.Unmarshal(b, &gf))
			}
			input := parseTraces(t, gf.Input)

			cfg := createDefaultConfig().(*Config)
			if tc.config != nil {
				tc.config(cfg)
			}
			sink := new(consumertest.TracesSink)
			p, err := NewFactory().CreateTraces(t.Context(), processortest.NewNopSettings(metadata.Type), cfg, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))
			require.NoError(t, p.ConsumeTraces(t.Context(), input))
			require.NoError(t, p.Shutdown(t.Context()))
			require.Len(t, sink.AllTraces(), 1)
			got := tracesJSON(t, sink.AllTraces()[0])

			if *update {
				gf.Expected = got
				b, err := json.MarshalIndent(gf, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o600))
			}
			// Both sides through pdata, so key order and encodings of equal
			// values do not count.
			want := tracesJSON(t, parseTraces(t, gf.Expected))
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

func parseTraces(t *testing.T, b []byte) ptrace.Traces {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(t, err)
	return td
}

func tracesJSON(t *testing.T, td ptrace.Traces) json.RawMessage {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return b
}
