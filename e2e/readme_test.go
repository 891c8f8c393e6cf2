package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
// has it, except that its fixed ports (4318, 4319, 4320, 8888, 13133) become free
// ones, so the test neither collides with a `make run` on this machine nor
// with other tests. It returns the port of the collector's own metrics.
func localConfigCopy(t *testing.T, root, work string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "configs", "local.yaml"))
	require.NoError(t, err)
	cfg := string(data)
	var metricsPort int
	for _, fixed := range []string{"127.0.0.1:4318", "127.0.0.1:4319", "127.0.0.1:4320", "127.0.0.1:13133", "port: 8888"} {
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
// {"partialSuccess":{}}. The span of the command without a trace config
// header prints once, from the debug exporter (destination "local"), with
// no trace_config.* stamped. The span of the command with one prints twice,
// from debug and from debug/audit (routes send account 42 to "local" and
// "audit"), each time with the header's account and zone stamped; and so it
// does, as the README says, with the same header as key=value pairs or in
// base64.
func TestReadmeFirstSpan(t *testing.T) {
	root := repoRoot()
	cmds, err := readmecmd.Curl(filepath.Join(root, "README.md"), "Send a first span")
	require.NoError(t, err)
	require.Len(t, cmds, 2, "the README shows a command without and one with a trace config header")

	work, _, logPath := startLocal(t)
	for _, cmd := range cmds {
		require.NoError(t, readmecmd.StageFiles(cmd, root, work))
	}

	// run runs cmd; account and zone are what its trace config header says
	// ("" without one).
	run := func(t *testing.T, cmd, account, zone string) {
		before := logSize(t, logPath)
		code, body, err := readmecmd.RunCurl(work, cmd)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, cmd)
		assert.Equal(t, `{"partialSuccess":{}}`, body, cmd)

		wantBy := []string{"debug"}
		var stamps []string
		if account != "" {
			wantBy = []string{"debug", "debug/audit"}
			stamps = []string{"-> trace_config.account: Str(" + account + ")", "-> trace_config.zone: Str(" + zone + ")"}
		}
		var prints []debugPrint
		ok := assert.Eventually(t, func() bool {
			prints = debugPrints(logSince(t, logPath, before), "first-span")
			return len(prints) >= len(wantBy)
		}, 20*time.Second, 100*time.Millisecond, "the span of %s should print from %v", cmd, wantBy)
		time.Sleep(500 * time.Millisecond) // a print too many would show by now
		prints = debugPrints(logSince(t, logPath, before), "first-span")
		var by []string
		for _, pr := range prints {
			by = append(by, pr.exporter)
			for _, s := range stamps {
				assert.Contains(t, pr.text, s, "%s printed the span without %s", pr.exporter, s)
			}
			if stamps == nil {
				assert.NotContains(t, pr.text, "trace_config.", "a span without a trace config has no trace_config.* stamped")
			}
		}
		slices.Sort(by)
		assert.Equal(t, wantBy, by, "the exporters that printed the span of %s", cmd)
		if !ok || t.Failed() {
			t.Logf("collector output since the request:\n%s", logSince(t, logPath, before))
		}
	}
	require.Nil(t, readmecmd.TraceConfig.FindStringSubmatch(cmds[0]), "the README's first command has no trace config header")
	m := readmecmd.TraceConfig.FindStringSubmatch(cmds[1])
	require.NotNil(t, m, "the README's second command has a trace config header")
	account, zone := readmeAccountZone(t, m[1])
	t.Run("0", func(t *testing.T) { run(t, cmds[0], "", "") })
	t.Run("1", func(t *testing.T) { run(t, cmds[1], account, zone) })

	// "The same header as zone=12345;account=42, or base64 of the JSON, goes
	// the same way."
	for name, header := range map[string]string{
		"kv":     "zone=" + zone + ";account=" + account,
		"base64": base64.StdEncoding.EncodeToString([]byte(m[1])),
	} {
		t.Run(name, func(t *testing.T) { run(t, strings.Replace(cmds[1], m[1], header, 1), account, zone) })
	}
}

// readmeAccountZone reads the account and zone of a JSON trace config
// header, under any of trace_routing's default keys, numbers as sent.
func readmeAccountZone(t *testing.T, header string) (account, zone string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(header))
	dec.UseNumber()
	var tc map[string]any
	require.NoError(t, dec.Decode(&tc), "the README's trace config header is JSON")
	field := func(name string) string {
		for _, key := range []string{name, name + "_id", name + "Id", name + "ID"} {
			if v, ok := tc[key]; ok {
				return fmt.Sprint(v)
			}
		}
		t.Fatalf("the README's trace config header %s has no %s", header, name)
		return ""
	}
	return field("account"), field("zone")
}

// debugPrint is one log entry in which a debug exporter printed a span.
type debugPrint struct {
	exporter string // its otelcol.component.id: debug, debug/audit
	text     string // the whole entry: resource, scopes, spans
}

var (
	logEntryStart = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+\t`)
	componentID   = regexp.MustCompile(`"otelcol.component.id": "([^"]+)"`)
)

// debugPrints splits collector output into log entries (each starts with a
// timestamp; a debug exporter's detailed print spans many lines) and returns
// those that print a span named spanName.
func debugPrints(output, spanName string) []debugPrint {
	var out []debugPrint
	starts := logEntryStart.FindAllStringIndex(output, -1)
	for i, st := range starts {
		end := len(output)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		entry := output[st[0]:end]
		if !strings.Contains(entry, "Name           : "+spanName+"\n") {
			continue
		}
		pr := debugPrint{text: entry}
		if m := componentID.FindStringSubmatch(entry); m != nil {
			pr.exporter = m[1]
		}
		out = append(out, pr)
	}
	return out
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
