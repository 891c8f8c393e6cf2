package traceroutingprocessor

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/fanout")

// goldenInput is the request of testdata/fanout/input.json: a resource routed
// by the header, one overriding it with its trace.config attribute, one with
// stale stamps of its own, and one with no routing that is dropped.
func goldenInput(t *testing.T) ptrace.Traces {
	return makeTraces(t,
		res{service: "checkout", spans: 2},
		res{service: "payments", config: `{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor"]}`, spans: 1},
		res{service: "stale", spans: 1, attrs: map[string]any{attrAccount: "spoofed", attrDestination: "elsewhere"}},
		res{service: "orphan", config: "not-a-config!", spans: 3},
	)
}

func TestFanOutGolden(t *testing.T) {
	dir := filepath.Join("testdata", "fanout")
	inputPath := filepath.Join(dir, "input.json")
	expectedPath := filepath.Join(dir, "expected.json")
	if *update {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		writeGolden(t, inputPath, goldenInput(t))
	}

	td := readGolden(t, inputPath)
	h := newHarness(t, nil)
	h.consume(t, withHeader("Cf-Trace-Config", configFor("tempo", "vendor", "archive")), td)
	all := h.sink.AllTraces()
	require.Len(t, all, 1, "one downstream call per request")

	if *update {
		writeGolden(t, expectedPath, all[0])
	}
	want, err := os.ReadFile(expectedPath)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(marshalGolden(t, all[0])))
}

func marshalGolden(t *testing.T, td ptrace.Traces) []byte {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

func writeGolden(t *testing.T, path string, td ptrace.Traces) {
	require.NoError(t, os.WriteFile(path, marshalGolden(t, td), 0o600))
}

func readGolden(t *testing.T, path string) ptrace.Traces {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(t, err)
	return td
}
