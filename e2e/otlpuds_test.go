package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
)

// Every ready config in configs/ must be accepted by the binary we ship.
func TestConfigsValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(), "configs", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			runBinary(t, "validate", "--config", f)
		})
	}
}

func TestComponentsListed(t *testing.T) {
	components, err := collector.ListComponents(binaryPath)
	require.NoError(t, err)
	want := map[string][]string{
		"receivers":  {"otlpuds", "otlp"},
		"processors": {"batch", "memory_limiter", "lifecycle_identity", "trace_routing"},
		"exporters":  {"destinations", "otlp_http", "otlp_grpc", "debug"},
		"extensions": {"health_check", "pprof", "zpages", "file_storage"},
	}
	for kind, names := range want {
		for _, name := range names {
			assert.True(t, components.Has(kind, name), "%s %s missing from the build", kind, name)
		}
	}
}

// udsToBackendConfig is the smallest pipeline a user runs: the socket in,
// otlphttp out.
func udsToBackendConfig(socketPath, backendURL string, metricsPort int) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  otlp_http:
    endpoint: %s
    compression: gzip
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [batch]
      exporters: [otlp_http]
`, socketPath, backendURL, collector.TelemetryYAML(metricsPort))
}

// makeTraces builds one trace of n spans: a root (the first span) and its
// children.
func makeTraces(traceID byte, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "e2e")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{traceID, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{traceID, byte(i >> 16), byte(i >> 8), byte(i), 1, 1, 1, 1})
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{traceID, 0, 0, 0, 1, 1, 1, 1})
		}
		s.SetName(fmt.Sprintf("span-%d", i))
		s.SetStartTimestamp(pcommon.Timestamp(time.Now().UnixNano()))
		s.SetEndTimestamp(pcommon.Timestamp(time.Now().UnixNano()))
	}
	return td
}

// postTraces sends td as one OTLP/HTTP protobuf request and requires a full
// success: 200 with nothing rejected.
func postTraces(t *testing.T, client *loadgen.Client, td ptrace.Traces, header map[string]string) {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	res := client.Post(context.Background(), body, false, header)
	require.NoError(t, res.Err)
	require.Equal(t, http.StatusOK, res.Status)
	require.Zero(t, res.Rejected, "partial success")
}

func TestSpansOverSocketReachBackend(t *testing.T) {
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "sub", "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return udsToBackendConfig(socket, backend.URL, port) })
	startCollector(t, cfg, metricsPort, socket)

	client := udsClient(t, socket)
	postTraces(t, client, makeTraces(1, 100), nil)
	postTraces(t, client, makeTraces(2, 50), nil)

	require.Eventually(t, func() bool { return backend.Spans() == 150 }, 20*time.Second, 50*time.Millisecond,
		"backend should receive all 150 spans")
	assert.Equal(t, map[string]int64{"e2e": 150}, backend.AttributeCounts("service.name"))
}

// A collector killed with SIGKILL leaves its socket file behind; the next
// start must take it over instead of failing with "address already in use".
func TestRestartAfterSIGKILL(t *testing.T) {
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return udsToBackendConfig(socket, backend.URL, port) })

	first := startCollector(t, cfg, metricsPort, socket)
	first.Kill()
	fi, err := os.Stat(socket)
	require.NoError(t, err, "a SIGKILLed collector leaves its socket file")
	require.Equal(t, os.ModeSocket, fi.Mode().Type())

	second := startCollector(t, cfg, metricsPort, socket)
	postTraces(t, udsClient(t, socket), makeTraces(3, 10), nil)
	require.Eventually(t, func() bool { return backend.Spans() == 10 }, 20*time.Second, 50*time.Millisecond)

	require.NoError(t, second.Stop(30*time.Second))
	_, err = os.Stat(socket)
	assert.True(t, os.IsNotExist(err), "a clean shutdown removes the socket file")
	assert.NotContains(t, second.LogTail(1000), "address already in use")
}
