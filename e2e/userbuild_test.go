package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

// userBuildMaxSpans is split.max_spans in the user build's config.
const userBuildMaxSpans = 200

// TestUserBuildDropIn builds examples/user-build/manifest.yaml, a user's
// ocb build of stock components plus lifecycle_identity and trace_routing
// each taken by its own gomod: line (issue 14). Its module graph must hold
// none of the testbed's own dependencies, and the binary, with
// lifecycle_identity between the stock otlp receiver and the stock batch
// processor, must deliver a long trace to a local backend cut into bounded
// segments.
func TestUserBuildDropIn(t *testing.T) {
	root := repoRoot()
	make := exec.Command("make", "--no-print-directory", "user-build")
	make.Dir = root
	out, err := make.CombinedOutput()
	require.NoError(t, err, "make user-build:\n%s", out)
	buildDir := filepath.Join(root, "bin", "user-build")

	t.Run("module graph holds no testbed dependency", func(t *testing.T) {
		testbedOnly := testbedOnlyModules(t, root)
		// The plotting libraries behind the testbed's charts, at least.
		require.Contains(t, testbedOnly, "gonum.org/v1/plot")
		t.Logf("modules only the testbed requires: %v", testbedOnly)

		// Every collector's graph names gonum.org/v1/plot and its fonts as
		// requirements of gonum.org/v1/gonum (the collector's service uses
		// gonum/graph), and builds none of them. What matters is what our
		// modules bring: the modules reached from the build only through a
		// module of ours must include none of the testbed's.
		graph := goCmdOutput(t, buildDir, "mod", "graph")
		edges := map[string][]string{}
		var main string
		for _, line := range strings.Split(strings.TrimSpace(graph), "\n") {
			from, to, _ := strings.Cut(line, " ")
			if main == "" {
				main = from
			}
			edges[from] = append(edges[from], to)
		}
		ours := func(node string) bool { return strings.HasPrefix(node, "github.com/tracebound/") }
		reach := func(throughOurs bool) map[string]bool {
			seen := map[string]bool{main: true}
			for queue := []string{main}; len(queue) > 0; queue = queue[1:] {
				if !throughOurs && ours(queue[0]) {
					continue
				}
				for _, to := range edges[queue[0]] {
					if !seen[to] {
						seen[to] = true
						queue = append(queue, to)
					}
				}
			}
			return seen
		}
		all, withoutOurs := reach(true), reach(false)
		require.True(t, all["github.com/tracebound/tracebound/processor/lifecycleidentityprocessor@v0.165.0"], "the graph is the user build's")
		var broughtByOurs []string
		for node := range all {
			path, _, _ := strings.Cut(node, "@")
			if !withoutOurs[node] && !ours(node) {
				broughtByOurs = append(broughtByOurs, node)
			}
			if _, testbedDep := testbedOnly[path]; testbedDep && !withoutOurs[node] {
				t.Errorf("the user build's module graph holds %s only through our modules", node)
			}
			assert.NotContains(t, []string{"github.com/tracebound/tracebound", "github.com/tracebound/tracebound/testbed"}, path,
				"the user build's module graph holds %s", node)
		}
		t.Logf("modules in the graph only through ours: %v", broughtByOurs)
		// And the build compiles no package of them.
		for _, mod := range strings.Fields(goCmdOutput(t, buildDir, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".")) {
			_, testbedDep := testbedOnly[mod]
			assert.False(t, testbedDep, "the user build compiles a package of %s", mod)
		}
	})

	t.Run("long trace reaches the backend in bounded segments", func(t *testing.T) {
		backend := &segmentBackend{spans: map[pcommon.SpanID]int{}, traces: map[pcommon.TraceID]int{}}
		srv := httptest.NewServer(backend)
		t.Cleanup(srv.Close)

		dir := t.TempDir()
		port, err := collector.FreePort()
		require.NoError(t, err)
		cfg, metricsPort := writeConfig(t, dir, func(metricsPort int) string {
			return userBuildConfig(port, srv.URL, metricsPort)
		})
		p, err := collector.Start(filepath.Join(buildDir, "otelcol-user-build"), cfg, metricsPort)
		require.NoError(t, err)
		t.Cleanup(func() {
			if err := p.Stop(30 * time.Second); err != nil {
				t.Errorf("collector did not stop cleanly: %v", err)
			}
			if t.Failed() {
				t.Logf("collector log:\n%s", p.LogTail(50))
			}
		})
		endpoint := fmt.Sprintf("127.0.0.1:%d", port)
		require.Eventually(t, func() bool {
			c, err := net.Dial("tcp", endpoint)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 30*time.Second, 50*time.Millisecond, "the otlp receiver never listened:\n%s", p.LogTail(30))

		client := loadgen.NewClient("http://"+endpoint, 2, 30*time.Second)
		t.Cleanup(client.Close)
		long := lifecycleSpans(pcommon.TraceID{0xdb, 14}, 1000) // 3,001 spans, the root last
		for i := 0; i < len(long); i += 250 {
			postTraces(t, client, batchOf(long[i:min(i+250, len(long))]), nil)
		}
		require.Eventually(t, func() bool { return backend.received() >= len(long) }, 60*time.Second, 100*time.Millisecond,
			"the backend should receive all %d spans", len(long))
		time.Sleep(300 * time.Millisecond) // anything doubled would arrive now

		backend.mu.Lock()
		defer backend.mu.Unlock()
		assert.Len(t, backend.spans, len(long), "every span arrives")
		for id, n := range backend.spans {
			if n != 1 {
				t.Errorf("span %s arrived %d times", id, n)
			}
		}
		// Segments hold at most max_spans, or up to twice that where a
		// parent arrives after its children and joins their segment (the
		// bound TestLifecycleTraceIsBoundedEndToEnd checks).
		assert.GreaterOrEqual(t, len(backend.traces), len(long)/(2*userBuildMaxSpans), "the trace is cut into segments")
		for id, n := range backend.traces {
			assert.LessOrEqual(t, n, 2*userBuildMaxSpans, "segment %s holds %d spans", id, n)
		}
		assert.Equal(t, len(long), backend.routed, "trace_routing stamped every resource with its route")
	})
}

func userBuildConfig(port int, backendURL string, metricsPort int) string {
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  lifecycle_identity:
    split:
      max_spans: %d
  trace_routing:
    on_missing: default
    default_destinations: [backend]
  batch:
    timeout: 100ms
exporters:
  otlp_http:
    endpoint: %s
    compression: none
service:
%s  pipelines:
    traces:
      receivers: [otlp]
      processors: [lifecycle_identity, trace_routing, batch]
      exporters: [otlp_http]
`, port, userBuildMaxSpans, backendURL, collector.TelemetryYAML(metricsPort))
}

// segmentBackend is an OTLP/HTTP backend counting spans by span ID and by
// trace ID (a segment of a cut trace has a trace ID of its own).
type segmentBackend struct {
	mu     sync.Mutex
	spans  map[pcommon.SpanID]int
	traces map[pcommon.TraceID]int
	routed int // spans whose resource carries tracebound.route
	total  int
}

func (b *segmentBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := ptraceotlp.NewExportRequest()
	if err == nil {
		err = req.UnmarshalProto(body)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		_, routed := rs.Resource().Attributes().Get(routeAttribute)
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				b.spans[s.SpanID()]++
				b.traces[s.TraceID()]++
				b.total++
				if routed {
					b.routed++
				}
			}
		}
	}
	b.mu.Unlock()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (b *segmentBackend) received() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// testbedOnlyModules maps each module testbed/go.mod requires that none of
// the modules a user build takes (our components and their internal
// module) requires, the testbed's own dependencies, to its path@version.
func testbedOnlyModules(t *testing.T, root string) map[string]string {
	t.Helper()
	requires := func(dir string) map[string]string {
		var mod struct {
			Require []struct{ Path, Version string }
		}
		require.NoError(t, json.Unmarshal([]byte(goCmdOutput(t, filepath.Join(root, dir), "mod", "edit", "-json")), &mod))
		out := map[string]string{}
		for _, r := range mod.Require {
			out[r.Path] = r.Path + "@" + r.Version
		}
		return out
	}
	only := requires("testbed")
	for _, dir := range []string{"internal", "extension/otlpudsreceiver", "processor/lifecycleidentityprocessor", "processor/traceroutingprocessor", "exporter/destinationsexporter"} {
		for p := range requires(dir) {
			delete(only, p)
		}
	}
	for p := range only {
		if strings.HasPrefix(p, "github.com/tracebound/") {
			delete(only, p)
		}
	}
	return only
}

// goCmdOutput runs the go command in dir on that module alone (GOWORK=off,
// as a user's build) and returns its output.
func goCmdOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err, "go %s in %s", strings.Join(args, " "), dir)
	return string(out)
}
