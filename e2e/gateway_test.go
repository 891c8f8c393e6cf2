package e2e

import (
	"bytes"
	"context"
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
	// Vendor retries alone: tempo and audit get everything as fast as before.
	checkRoutingAcrossBackends(t, client, p, backends, 3*time.Second)
	assert.EqualValues(t, 50+7, selfMetric(t, p, "otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "vendor"}),
		"vendor was offered its share, which it now retries on its own")
}

// TestLocalConfigHeaderOverTCP: configs/local.yaml's TCP otlp receiver keeps
// request headers (include_metadata), so a cf-trace-config header sent over
// TCP routes the request and its identity is stamped. Without it the header
// never reaches trace_routing and the span is defaulted to "local" unstamped.
func TestLocalConfigHeaderOverTCP(t *testing.T) {
	work, p, logPath := startLocal(t)
	data, err := os.ReadFile(filepath.Join(work, "configs", "local.yaml"))
	require.NoError(t, err)
	// The otlp receiver's endpoint, rewritten to a free port by localConfigCopy.
	m := regexp.MustCompile(`(?m)^  otlp:\n    protocols:\n      http:\n        endpoint: (127\.0\.0\.1:\d+)\n`).FindSubmatch(data)
	require.NotNil(t, m, "configs/local.yaml changed; update how this test finds the otlp receiver")
	tcp := string(m[1])
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

	if !waitForOutput(t, logPath, before, "-> trace_config.account: Str(tcp-account)") {
		t.Log("the trace config header sent over TCP was not stamped")
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
