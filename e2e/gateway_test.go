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
// local OTLP/HTTP backends. Requests carrying foundations-shaped trace
// configs arrive at exactly the destinations gateway.yaml's routes give
// them, requests without a trace config, with one that cannot be read or
// with one that matches no route are dropped and counted, and stopping one
// backend changes nothing for the other two.
func TestGatewayConfig(t *testing.T) {
	backends := map[string]*mockbackend.Backend{
		"tempo":  newBackend(t, "tempo"),
		"vendor": newBackend(t, "vendor"),
		"audit":  newBackend(t, "audit"),
	}
	p, socket, healthPort := startGateway(t, backends)

	// health_check serves on the port from the environment.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(healthPort)+"/", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "health_check should listen on TRACEBOUND_HEALTH_PORT")
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)

	// gateway.yaml's routes: account 42 -> tempo, vendor; accounts 7 and 8
	// with a zone -> tempo, audit; any other zone -> tempo; the rest dropped.
	before := []routedRequest{
		{header: `{"zoneId":12345,"accountId":1}`, traceID: 1, spans: 10, to: []string{"tempo"},
			stamps: map[string]string{"account": "1", "zone": "12345"}},
		{header: `{"zoneId":12345,"accountId":42}`, traceID: 2, spans: 7, to: []string{"tempo", "vendor"},
			stamps: map[string]string{"account": "42", "zone": "12345"}},
		{header: "zone=9;account=7", traceID: 3, spans: 6, to: []string{"tempo", "audit"},
			stamps: map[string]string{"account": "7", "zone": "9"}},
		{header: base64.StdEncoding.EncodeToString([]byte(`{"account_id":"8","zone_id":"z-4"}`)), traceID: 4, spans: 4,
			to: []string{"tempo", "audit"}, stamps: map[string]string{"account": "8", "zone": "z-4"}},
		{traceID: 5, spans: 5, reason: "missing"},
		{header: `{"zoneId":12345,"accountId":`, traceID: 6, spans: 3, reason: "invalid"},
		{header: `{"accountId":3}`, traceID: 7, spans: 2, reason: "unrouted"},
	}
	// Vendor retries alone: tempo and audit get everything as fast as before.
	var whileDown []routedRequest
	for i := range 6 {
		r := routedRequest{header: `{"zoneId":12345,"accountId":42}`, traceID: byte(10 + i), spans: 10,
			to: []string{"tempo", "vendor"}, stamps: map[string]string{"account": "42", "zone": "12345"}}
		if i%2 == 1 {
			r.header, r.to, r.stamps = "zone=9;account=7", []string{"tempo", "audit"}, map[string]string{"account": "7", "zone": "9"}
		}
		whileDown = append(whileDown, r)
	}
	checkRoutingAcrossBackends(t, udsClient(t, socket), p, backends, before, whileDown, 3*time.Second)
	assert.EqualValues(t, 7+30, selfMetric(t, p, "otelcol_exporter_destinations_spans_routed", map[string]string{"destination": "vendor"}),
		"vendor was offered its share, which it now retries on its own")
}

// startGateway runs configs/gateway.yaml itself (through a link in a temp
// folder, so that its log lands there), configured only through the
// environment variables its header documents: the socket, free ports for
// its metrics and health_check, and each backend's URL as <NAME>_ENDPOINT
// (TEMPO_ENDPOINT, VENDOR_ENDPOINT, AUDIT_ENDPOINT). It returns the
// collector, its socket and its health_check port.
func startGateway(t *testing.T, backends map[string]*mockbackend.Backend) (p *collector.Process, socket string, healthPort int) {
	t.Helper()
	dir := shortTempDir(t)
	socket = filepath.Join(dir, "gateway.sock")
	metricsPort, err := collector.FreePort()
	require.NoError(t, err)
	healthPort, err = collector.FreePort()
	require.NoError(t, err)
	t.Setenv("TRACEBOUND_SOCKET", socket)
	t.Setenv("TRACEBOUND_METRICS_PORT", strconv.Itoa(metricsPort))
	t.Setenv("TRACEBOUND_HEALTH_PORT", strconv.Itoa(healthPort))
	for name, b := range backends {
		t.Setenv(strings.ToUpper(name)+"_ENDPOINT", b.URL)
	}

	cfg := filepath.Join(dir, "gateway.yaml")
	require.NoError(t, os.Symlink(filepath.Join(repoRoot(), "configs", "gateway.yaml"), cfg))
	return startCollector(t, cfg, metricsPort, socket), socket, healthPort
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
