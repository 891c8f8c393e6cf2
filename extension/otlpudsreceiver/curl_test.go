package otlpudsreceiver

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/readmecmd"
)

// repoRoot is the repository root, seen from this package's folder.
const repoRoot = "../.."

var (
	curlSocketRe = regexp.MustCompile(`--unix-socket\s+(\S+)`)
	// curlHeaderRe matches a single-quoted `-H 'name: value'` argument.
	curlHeaderRe = regexp.MustCompile(`-H\s+'([^':]+):\s*([^']*)'`)
)

// traceRoutingHeader is the routing header trace_routing reads by default
// (its `header` key); this receiver names no header of its own.
const traceRoutingHeader = "cf-trace-config"

// localDestinations are the destination names configs/local.yaml (the
// config of `make run`) defines.
func localDestinations(t testing.TB) []string {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join(repoRoot, "configs", "local.yaml"))
	require.NoError(t, err)
	dests, ok := cm.Get("exporters::destinations::destinations").(map[string]any)
	require.True(t, ok, "configs/local.yaml defines no destinations")
	var names []string
	for name := range dests {
		names = append(names, name)
	}
	return names
}

// TestCurlFromReadme runs every curl command of the root README's "Send a
// first span" section and of this component's README against a real
// receiver, from a working folder laid out as the repository is (socket and
// data file at the paths the command names), so the documented commands
// keep working. Every header the command sends (Content-Type, the trace
// config header, ...) must reach the pipeline as client metadata, as
// written, and the trace config must name only destinations that `make run`'s config defines; the e2e
// test TestReadmeFirstSpan runs the root README's commands against the
// binary itself.
func TestCurlFromReadme(t *testing.T) {
	readmes := []struct{ name, path, section string }{
		{"root", filepath.Join(repoRoot, "README.md"), "Send a first span"},
		{"component", "README.md", ""},
	}
	known := localDestinations(t)
	for _, readme := range readmes {
		cmds, err := readmecmd.Curl(readme.path, readme.section)
		require.NoError(t, err)
		require.NotEmpty(t, cmds, "no curl command in %s", readme.path)
		for i, cmd := range cmds {
			t.Run(readme.name+"/"+strconv.Itoa(i), func(t *testing.T) {
				work := shortTempDir(t)
				m := curlSocketRe.FindStringSubmatch(cmd)
				require.NotNil(t, m, "no --unix-socket in %s", cmd)
				require.False(t, filepath.IsAbs(m[1]), "the README socket should be the repo-relative one of make run: %s", cmd)
				files := readmecmd.DataFile.FindAllStringSubmatch(cmd, -1)
				require.Len(t, files, 1, "one @file body expected in %s", cmd)
				require.NoError(t, readmecmd.StageFiles(cmd, repoRoot, work))
				raw, err := os.ReadFile(filepath.Join(repoRoot, files[0][1]))
				require.NoError(t, err)
				want, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
				require.NoError(t, err)

				cfg := testConfig(t)
				cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(work, m[1])
				sink := new(consumertest.TracesSink)
				startReceiver(t, cfg, consumers{traces: sink})

				code, body, err := readmecmd.RunCurl(work, cmd)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, code)
				assert.JSONEq(t, `{"partialSuccess":{}}`, body)
				require.Len(t, sink.AllTraces(), 1)
				wantJSON, err := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
				require.NoError(t, err)
				gotJSON, err := (&ptrace.JSONMarshaler{}).MarshalTraces(sink.AllTraces()[0])
				require.NoError(t, err)
				assert.JSONEq(t, string(wantJSON), string(gotJSON), "the pipeline gets the file's spans")

				md := client.FromContext(sink.Contexts()[0]).Metadata
				for _, h := range curlHeaderRe.FindAllStringSubmatch(cmd, -1) {
					assert.Equal(t, []string{h[2]}, md.Get(h[1]), "header %s reaches the pipeline as client metadata", h[1])
				}
				got := md.Get(traceRoutingHeader)
				tc := readmecmd.TraceConfig.FindStringSubmatch(cmd)
				if tc == nil {
					assert.Empty(t, got)
					return
				}
				assert.Equal(t, []string{tc[1]}, got)
				var parsed struct {
					Destinations []string `json:"destinations"`
				}
				require.NoError(t, json.Unmarshal([]byte(tc[1]), &parsed))
				for _, d := range parsed.Destinations {
					assert.Contains(t, known, d, "destination %q is not defined in configs/local.yaml: make run would drop the span", d)
				}
			})
		}
	}
}
