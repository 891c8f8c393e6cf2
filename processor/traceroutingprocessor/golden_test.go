package traceroutingprocessor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/route"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/mixed")

// goldenConfig routes by a table keyed by account and zone, a user-added
// field, and sends what no route matches to a default destination.
func goldenConfig(c *Config) {
	c.Fields["tenant"] = []string{"tenant", "org"}
	c.Routes = []RouteConfig{
		{Match: map[string]any{"account": "42"}, Destinations: []string{"tempo"}},
		{Match: map[string]any{"account": []any{"1", "2"}, "zone": "*"}, Destinations: []string{"tempo", "vendor"}},
		{Match: map[string]any{"tenant": "acme"}, Destinations: []string{"audit"}},
	}
	c.OnUnrouted = PolicyDefault
	c.DefaultDestinations = []string{"quarantine"}
}

// goldenInput is the request of testdata/mixed/input.json: one resource per
// way a producer can send its trace config, each with what it decides.
func goldenInput(t *testing.T) ptrace.Traces {
	return makeTraces(t,
		// The header {"zoneId":12345,"accountId":42}: route 0.
		res{service: "header-camel-numbers", spans: 2},
		// kv pairs: route 1, any of, zone present.
		res{service: "kv", config: "zone=1; account=2", spans: 1},
		// base64 (standard alphabet, padded) of snake_case strings: route 1.
		res{service: "base64-snake", config: base64.StdEncoding.EncodeToString([]byte(`{"account_id":"1","zone_id":"z-9"}`)), spans: 1},
		// The producer names its destinations: they win over routes.
		res{service: "producer-destinations", config: `{"accountId":42,"destinations":["vendor","audit"]}`, spans: 1},
		// kv with a destination list.
		res{service: "kv-destinations", config: "account=7&destinations=audit|tempo", spans: 1},
		// A user-added field read from its second key: route 2.
		res{service: "user-field", config: `{"org":"acme"}`, spans: 1},
		// Exact digits: an integer above 2^53, a float as sent. No route: default.
		res{service: "exact-numbers", config: `{"accountId":9007199254740993,"zoneId":1.50,"workspace":true}`, spans: 1},
		// Stale stamps of the producer's own are replaced.
		res{service: "stale", spans: 1, attrs: map[string]any{attrAccount: "spoofed", "trace_config.tenant": "x", route.Attribute: "elsewhere"}},
		// Undecodable: dropped (on_invalid: drop).
		res{service: "invalid", config: "not a config", spans: 3},
	)
}

func TestMixedRequestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "mixed")
	inputPath := filepath.Join(dir, "input.json")
	expectedPath := filepath.Join(dir, "expected.json")
	if *update {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		writeGolden(t, inputPath, goldenInput(t))
	}

	td := readGolden(t, inputPath)
	h := newHarness(t, goldenConfig)
	h.consume(t, withHeader("Cf-Trace-Config", foundationsHeader), td)
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
