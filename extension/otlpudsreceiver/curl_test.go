package otlpudsreceiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// repoRoot is the repository root, seen from this package's folder.
const repoRoot = "../.."

var (
	curlSocketRe      = regexp.MustCompile(`--unix-socket\s+(\S+)`)
	curlDataFileRe    = regexp.MustCompile(`\s@(\S+)`)
	curlTraceConfigRe = regexp.MustCompile(`'cf-trace-config:\s*([^']*)'`)
)

// readmeCurlCommands returns the curl commands of the shell code blocks of a
// markdown file, backslash-newline continuations joined as the shell joins
// them. With section set, only that "## " section is read.
func readmeCurlCommands(t testing.TB, path, section string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(data)
	if section != "" {
		_, after, found := strings.Cut(text, "\n## "+section+"\n")
		require.True(t, found, "%s has no section %q", path, section)
		if end := strings.Index(after, "\n## "); end >= 0 {
			after = after[:end]
		}
		text = after
	}
	var cmds []string
	var cur strings.Builder
	inFence, isShell := false, false
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inFence && strings.HasPrefix(trimmed, "```"):
			inFence = true
			lang := strings.TrimPrefix(trimmed, "```")
			isShell = lang == "sh" || lang == "bash" || lang == "shell" || lang == "console"
		case inFence && trimmed == "```":
			inFence = false
		case inFence && isShell:
			if cont, ok := strings.CutSuffix(line, `\`); ok {
				cur.WriteString(cont)
				continue
			}
			cur.WriteString(line)
			cmd := strings.TrimSpace(cur.String())
			cur.Reset()
			if strings.HasPrefix(cmd, "curl ") {
				cmds = append(cmds, cmd)
			}
		}
	}
	return cmds
}

// runCurl runs a README curl command as the user would paste it (through
// sh, in dir), and returns the HTTP status and the answer's body.
func runCurl(t testing.TB, dir, cmd string) (int, string) {
	t.Helper()
	_, err := exec.LookPath("curl")
	require.NoError(t, err, "the README commands are tested with curl")
	script := `curl -sS -w '\n%{http_code}' ` + strings.TrimPrefix(cmd, "curl ")
	c := exec.Command("sh", "-c", script)
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "%s\n%s", cmd, stderr.String())
	i := bytes.LastIndexByte(out, '\n')
	require.GreaterOrEqual(t, i, 0, "no status in curl output %q", out)
	code, err := strconv.Atoi(string(out[i+1:]))
	require.NoError(t, err)
	return code, string(out[:i])
}

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
// keep working. A trace config header must reach the pipeline as written
// and name only destinations that `make run`'s config defines; the e2e
// test TestReadmeFirstSpan runs the root README's commands against the
// binary itself.
func TestCurlFromReadme(t *testing.T) {
	readmes := []struct{ name, path, section string }{
		{"root", filepath.Join(repoRoot, "README.md"), "Send a first span"},
		{"component", "README.md", ""},
	}
	known := localDestinations(t)
	for _, readme := range readmes {
		cmds := readmeCurlCommands(t, readme.path, readme.section)
		require.NotEmpty(t, cmds, "no curl command in %s", readme.path)
		for i, cmd := range cmds {
			t.Run(readme.name+"/"+strconv.Itoa(i), func(t *testing.T) {
				work := shortTempDir(t)
				m := curlSocketRe.FindStringSubmatch(cmd)
				require.NotNil(t, m, "no --unix-socket in %s", cmd)
				require.False(t, filepath.IsAbs(m[1]), "the README socket should be the repo-relative one of make run: %s", cmd)
				files := curlDataFileRe.FindAllStringSubmatch(cmd, -1)
				require.Len(t, files, 1, "one @file body expected in %s", cmd)
				dataFile := filepath.Join(repoRoot, files[0][1])
				to := filepath.Join(work, files[0][1])
				require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
				copyFile(t, dataFile, to, 0o600)
				raw, err := os.ReadFile(dataFile)
				require.NoError(t, err)
				want, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
				require.NoError(t, err)

				cfg := testConfig(t)
				cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(work, m[1])
				sink := new(consumertest.TracesSink)
				startReceiver(t, cfg, consumers{traces: sink})

				code, body := runCurl(t, work, cmd)
				assert.Equal(t, http.StatusOK, code)
				assert.JSONEq(t, `{"partialSuccess":{}}`, body)
				require.Len(t, sink.AllTraces(), 1)
				wantJSON, err := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
				require.NoError(t, err)
				gotJSON, err := (&ptrace.JSONMarshaler{}).MarshalTraces(sink.AllTraces()[0])
				require.NoError(t, err)
				assert.JSONEq(t, string(wantJSON), string(gotJSON), "the pipeline gets the file's spans")

				got := client.FromContext(sink.Contexts()[0]).Metadata.Get(defaultTraceConfigHeader)
				tc := curlTraceConfigRe.FindStringSubmatch(cmd)
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
