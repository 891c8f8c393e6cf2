package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// TestGatewayConfig is issue 4's "Done when", tried as a new user would:
// configs/gateway.yaml itself (not a copy written for the test), configured
// only through the environment variables its header documents, with three
// local OTLP/HTTP backends. Requests carrying different trace configs arrive
// at exactly the destinations they name, requests without one are dropped
// and counted, and stopping one backend changes nothing for the other two.
func TestGatewayConfig(t *testing.T) {
	backends := map[string]*mockbackend.Backend{
		"tempo":  newBackend(t, "tempo"),
		"vendor": newBackend(t, "vendor"),
		"audit":  newBackend(t, "audit"),
	}
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "gateway.sock")
	metricsPort, err := collector.FreePort()
	require.NoError(t, err)
	healthPort, err := collector.FreePort()
	require.NoError(t, err)
	t.Setenv("TRACEBOUND_SOCKET", socket)
	t.Setenv("TRACEBOUND_METRICS_PORT", strconv.Itoa(metricsPort))
	t.Setenv("TRACEBOUND_HEALTH_PORT", strconv.Itoa(healthPort))
	t.Setenv("TEMPO_ENDPOINT", backends["tempo"].URL)
	t.Setenv("VENDOR_ENDPOINT", backends["vendor"].URL)
	t.Setenv("AUDIT_ENDPOINT", backends["audit"].URL)

	// A link to the file itself, so the collector's log lands in dir.
	cfg := filepath.Join(dir, "gateway.yaml")
	require.NoError(t, os.Symlink(filepath.Join(repoRoot(), "configs", "gateway.yaml"), cfg))
	p := startCollector(t, cfg, metricsPort, socket)

	// health_check serves on the port from the environment.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(healthPort)+"/", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "health_check should listen on TRACEBOUND_HEALTH_PORT")
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)

	client := udsClient(t, socket)
	raw := `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`
	encoded := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a2","zone":"z2","workspace":"w2","destinations":["vendor","audit"]}`))
	postTraces(t, client, makeTraces(1, 10), map[string]string{"cf-trace-config": raw})
	postTraces(t, client, makeTraces(2, 7), map[string]string{"Cf-Trace-Config": encoded})
	postTraces(t, client, makeTraces(3, 5), nil) // no trace config: dropped and counted

	want := map[string]int64{"tempo": 10, "vendor": 7, "audit": 7}
	require.Eventually(t, func() bool {
		for name, n := range want {
			if backends[name].Spans() != n {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "each backend receives the requests that name it")
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_processor_trace_routing_spans_dropped", map[string]string{"reason": "missing"}) == 5
	}, 10*time.Second, 50*time.Millisecond, "the request without a trace config is dropped and counted")
	time.Sleep(500 * time.Millisecond) // a misrouted batch would arrive by now (batch timeout 200ms)
	for name, n := range want {
		assert.EqualValues(t, n, backends[name].Spans(), "%s got spans it was not named for", name)
	}

	for _, r := range backends["tempo"].Records() {
		assert.Equal(t, byte(1), r.TraceID[0], "tempo got a span of another request")
	}
	assert.Equal(t, map[string]int64{"a1": 10}, backends["tempo"].AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"z1": 10}, backends["tempo"].AttributeCounts("trace_config.zone"))
	assert.Equal(t, map[string]int64{"w1": 10}, backends["tempo"].AttributeCounts("trace_config.workspace"))
	for _, name := range []string{"vendor", "audit"} {
		for _, r := range backends[name].Records() {
			assert.Equal(t, byte(2), r.TraceID[0], "%s got a span of another request", name)
		}
		assert.Equal(t, map[string]int64{"a2": 7}, backends[name].AttributeCounts("trace_config.account"))
	}
	for name, n := range want {
		assert.Equal(t, map[string]int64{"": n}, backends[name].AttributeCounts("trace_config.destination"),
			"%s: the route attribute is removed before sending", name)
	}

	// The vendor backend goes away. Requests naming all three keep reaching
	// tempo and audit in full, as fast as before: vendor retries alone.
	require.NoError(t, backends["vendor"].Close())
	all := base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a3","destinations":["tempo","vendor","audit"]}`))
	sent := time.Now()
	for i := range 5 {
		postTraces(t, client, makeTraces(byte(10+i), 10), map[string]string{"cf-trace-config": all})
	}
	require.Eventually(t, func() bool {
		return backends["tempo"].Spans() == 60 && backends["audit"].Spans() == 57
	}, 3*time.Second, 20*time.Millisecond, "tempo and audit keep receiving everything while vendor is down")
	t.Logf("tempo and audit received all 50 spans %s after the first send", time.Since(sent).Round(time.Millisecond))
	assert.EqualValues(t, 7, backends["vendor"].Spans())
	assert.Equal(t, map[string]int64{"a1": 10, "a3": 50}, backends["tempo"].AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"a2": 7, "a3": 50}, backends["audit"].AttributeCounts("trace_config.account"))
	assert.EqualValues(t, 50+7, selfMetric(t, p, "otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "vendor"}),
		"vendor was offered its share, which it now retries on its own")
}

// TestLocalConfigHeaderOverTCP: configs/local.yaml's TCP otlp receiver keeps
// request headers (include_metadata), so a cf-trace-config header sent over
// TCP routes the request and its identity is stamped. Without it the header
// never reaches trace_routing and the span is defaulted to "local" unstamped.
func TestLocalConfigHeaderOverTCP(t *testing.T) {
	root := repoRoot()
	work := shortTempDir(t)
	metricsPort := localConfigCopy(t, root, work)
	cfgPath := filepath.Join(work, "configs", "local.yaml")
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	// The otlp receiver's endpoint, rewritten to a free port by localConfigCopy.
	m := regexp.MustCompile(`(?m)^  otlp:\n    protocols:\n      http:\n        endpoint: (127\.0\.0\.1:\d+)\n`).FindSubmatch(data)
	require.NotNil(t, m, "configs/local.yaml changed; update how this test finds the otlp receiver")
	tcp := string(m[1])

	require.NoError(t, os.MkdirAll(filepath.Join(work, "run"), 0o755))
	t.Chdir(work)
	p := startCollector(t, filepath.Join("configs", "local.yaml"), metricsPort, filepath.Join("run", "otlp.sock"))
	logPath := filepath.Join(work, p.LogPath)
	before := logSize(t, logPath)

	body, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(7, 1)).MarshalProto()
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+tcp+"/v1/traces", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("cf-trace-config", `{"account":"tcp-account","destinations":["local"]}`)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	want := "-> trace_config.account: Str(tcp-account)"
	var printed string
	ok := assert.Eventually(t, func() bool {
		printed = logSince(t, logPath, before)
		return strings.Contains(printed, want)
	}, 20*time.Second, 100*time.Millisecond, "the header sent over TCP should be stamped as %q", want)
	if !ok {
		t.Logf("collector output since the request:\n%s", printed)
	}
	assert.Zero(t, selfMetric(t, p, "otelcol_processor_trace_routing_spans_dropped", nil)+
		selfMetric(t, p, "otelcol_processor_trace_routing_resources_defaulted", nil),
		"the request carried a trace config: nothing is dropped or defaulted")
}

// The vendor API key of configs/gateway.yaml is commented out (an unset
// variable would send an empty x-api-key); uncommented as its comment says,
// the config must still be valid.
func TestGatewayVendorAPIKeyExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "configs", "gateway.yaml"))
	require.NoError(t, err)
	const commented = "        # headers:\n        #   x-api-key: ${env:VENDOR_API_KEY}\n"
	require.Contains(t, string(data), commented, "configs/gateway.yaml changed; update this test")
	cfg := strings.Replace(string(data), commented, "        headers:\n          x-api-key: ${env:VENDOR_API_KEY}\n", 1)
	path, err := collector.WriteConfig(t.TempDir(), "gateway", cfg)
	require.NoError(t, err)
	t.Setenv("VENDOR_API_KEY", "k")
	runBinary(t, "validate", "--config", path)
}
