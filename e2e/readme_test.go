package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracebound/tracebound/internal/readmecmd"
	"github.com/tracebound/tracebound/testbed/collector"
)

// localConfigCopy writes configs/local.yaml into work/configs/ as the user
// has it, except that its fixed ports (4318, 4319, 8888, 13133) become free
// ones, so the test neither collides with a `make run` on this machine nor
// with other tests. It returns the port of the collector's own metrics.
func localConfigCopy(t *testing.T, root, work string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "configs", "local.yaml"))
	require.NoError(t, err)
	cfg := string(data)
	var metricsPort int
	for _, fixed := range []string{"127.0.0.1:4318", "127.0.0.1:4319", "127.0.0.1:13133", "port: 8888"} {
		require.Contains(t, cfg, fixed, "configs/local.yaml changed; update the ports this test rewrites")
		port, err := collector.FreePort()
		require.NoError(t, err)
		if fixed == "port: 8888" {
			metricsPort = port
		}
		i := strings.LastIndexAny(fixed, ": ")
		cfg = strings.ReplaceAll(cfg, fixed, fixed[:i+1]+strconv.Itoa(port))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(work, "configs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(work, "configs", "local.yaml"), []byte(cfg), 0o600))
	return metricsPort
}

// TestReadmeFirstSpan does what the root README's "Send a first span" tells
// a new user: `make run` (the built binary on configs/local.yaml, started
// from the working folder, which holds configs/ and run/), then each curl
// command of that section, pasted into a shell. Each must get 200 with
// {"partialSuccess":{}}, and its span must show in the collector's debug
// output, with the account of its trace config header stamped when it has
// one.
func TestReadmeFirstSpan(t *testing.T) {
	root := repoRoot()
	cmds, err := readmecmd.Curl(filepath.Join(root, "README.md"), "Send a first span")
	require.NoError(t, err)
	require.Len(t, cmds, 2, "the README shows a command without and one with a trace config header")

	work, _, logPath := startLocal(t)
	for _, cmd := range cmds {
		require.NoError(t, readmecmd.StageFiles(cmd, root, work))
	}

	for i, cmd := range cmds {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			before := logSize(t, logPath)
			code, body, err := readmecmd.RunCurl(work, cmd)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code, cmd)
			assert.Equal(t, `{"partialSuccess":{}}`, body, cmd)

			want := []string{"Name           : first-span"}
			if m := readmecmd.TraceConfig.FindStringSubmatch(cmd); m != nil {
				var tc struct {
					Account string `json:"account"`
				}
				require.NoError(t, json.Unmarshal([]byte(m[1]), &tc))
				require.NotEmpty(t, tc.Account)
				want = append(want, "-> trace_config.account: Str("+tc.Account+")")
			}
			if !waitForOutput(t, logPath, before, want...) {
				t.Logf("the debug exporter did not print the span of %s", cmd)
			}
		})
	}
}

// startLocal does what `make run` does for a user, on a copy of
// configs/local.yaml with free ports (localConfigCopy) in a fresh working
// folder: mkdir -p run, then the binary with a relative --config, from the
// folder the socket path is relative to (the test's working directory
// until it ends). It returns the folder, the collector and its log's path.
func startLocal(t *testing.T) (work string, p *collector.Process, logPath string) {
	t.Helper()
	work = shortTempDir(t)
	metricsPort := localConfigCopy(t, repoRoot(), work)
	require.NoError(t, os.MkdirAll(filepath.Join(work, "run"), 0o755))
	t.Chdir(work)
	p = startCollector(t, filepath.Join("configs", "local.yaml"), metricsPort, filepath.Join("run", "otlp.sock"))
	return work, p, filepath.Join(work, p.LogPath)
}

// waitForOutput waits up to 20s for the collector's log at logPath to show
// every string of want past offset before (a logSize taken before the
// request); if it never does, the test fails and the output since before is
// logged. It reports whether all of want showed.
func waitForOutput(t *testing.T, logPath string, before int64, want ...string) bool {
	t.Helper()
	var printed string
	ok := assert.Eventually(t, func() bool {
		printed = logSince(t, logPath, before)
		for _, w := range want {
			if !strings.Contains(printed, w) {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "the collector should print %q", want)
	if !ok {
		t.Logf("collector output since the request:\n%s", printed)
	}
	return ok
}

func logSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func logSince(t *testing.T, path string, offset int64) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data[offset:])
}
