package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// shippedConfig returns the collector config of a ConfigMap under
// deploy/kubernetes (key config.yaml), decoded.
func shippedConfig(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, m := range loadManifests(t) {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return configTree(t, m.file, cm.Data["config.yaml"])
		}
	}
	t.Fatalf("no ConfigMap %s under deploy/kubernetes", name)
	return nil
}

// set puts value at keys in a decoded config, which must hold every key
// but the last: the test changes what the shipped config has, nothing else.
func set(t *testing.T, tree map[string]any, value any, keys ...string) {
	t.Helper()
	m := tree
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		require.True(t, ok, "config has no %v", keys)
		m = next
	}
	m[keys[len(keys)-1]] = value
}

// runShipped starts binary on a shipped config with only its addresses
// moved to this machine: the socket into dir (without socket_group, which
// names the apps' group of the cluster), health_check and the metrics on
// free ports of 127.0.0.1; edit changes more before it is written.
func runShipped(t *testing.T, binary, dir, name string, edit func(map[string]any)) *collector.Process {
	t.Helper()
	tree := shippedConfig(t, name)
	socket := ""
	if uds, ok := lookup(tree, "receivers", "otlpuds").(map[string]any); ok {
		socket = filepath.Join(dir, "otlp.sock")
		uds["endpoint"] = socket
		delete(uds, "socket_group")
	}
	health, err := collector.FreePort()
	require.NoError(t, err)
	metricsPort, err := collector.FreePort()
	require.NoError(t, err)
	set(t, tree, "127.0.0.1:"+strconv.Itoa(health), "extensions", "health_check", "endpoint")
	readers := lookup(tree, "service", "telemetry", "metrics", "readers").([]any)
	prom := lookup(readers[0], "pull", "exporter", "prometheus").(map[string]any)
	prom["host"], prom["port"] = "127.0.0.1", metricsPort
	if edit != nil {
		edit(tree)
	}
	data, err := yaml.Marshal(tree)
	require.NoError(t, err)
	path, err := collector.WriteConfig(dir, name, string(data))
	require.NoError(t, err)
	p, err := collector.Start(binary, path, metricsPort)
	require.NoError(t, err, "%s on %s", filepath.Base(binary), name)
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("%s did not stop cleanly: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.LogTail(30))
		}
	})
	if socket != "" {
		require.NoError(t, waitForSocket(socket, 10*time.Second, p.Exited()), "%s: socket", name)
	}
	return p
}

// The environment deploy/kubernetes sets for the collectors, here.
func setDeployEnv(t *testing.T, tempoURL string) {
	t.Setenv("MY_POD_IP", "127.0.0.1")
	t.Setenv("TEMPO_ENDPOINT", tempoURL)
	t.Setenv("TRACEBOUND_STRICT_FOLDER_MODES", "true")
}

// TestShippedAgentConfigDelivers runs deploy/kubernetes/agent's config, as
// shipped but for its addresses, and sends what example/app.yaml sends:
// a tenant's spans reach destination tempo stamped with the tenant, and
// spans without a trace config reach it too (on_missing: default), a long
// trace cut at max_spans.
func TestShippedAgentConfigDelivers(t *testing.T) {
	tempo := tempoBackend(t)
	setDeployEnv(t, tempo.URL)
	dir := shortTempDir(t)
	runShipped(t, binaryPath, dir, "tracebound-agent", nil)
	client := udsClient(t, filepath.Join(dir, "otlp.sock"))

	postTraces(t, client, makeTraces(1, 2500), map[string]string{"cf-trace-config": `{"zoneId":12345,"accountId":42}`})
	postTraces(t, client, makeTraces(2, 3), nil)
	require.Eventually(t, func() bool { return tempo.Spans() == 2503 }, 20*time.Second, 50*time.Millisecond, "tempo gets every span")
	assert.Equal(t, map[string]int64{"42": 2500, "": 3}, tempo.AttributeCounts("trace_config.account"))
	assertBounded(t, tempo, 2000)
}

// assertBounded: the long trace reached b cut into segments of at most
// maxSpans spans (the test's traces send every parent before its children,
// so none joins a later segment).
func assertBounded(t *testing.T, b *mockbackend.Backend, maxSpans int) {
	t.Helper()
	counts := b.TraceCounts()
	assert.Len(t, counts, 3, "2,500 spans in two segments, and the short trace")
	for id, n := range counts {
		assert.LessOrEqual(t, n, maxSpans, "trace %s", id)
	}
}

// tempoBackend is the destination tempo, counting the attributes the
// tests read: the tenant stamps, and trace.config, which must not arrive.
func tempoBackend(t *testing.T) *mockbackend.Backend {
	t.Helper()
	return startBackend(t, mockbackend.Options{Name: "tempo", Record: true, CountTraces: true,
		CountAttributes: append(slices.Clone(countedAttributes), "trace.config")})
}

// TestShippedGatewayConfigsDeliver runs the gateway topology's configs as
// shipped but for their addresses: the agent build with the load_balancing
// exporter on gateway/agent-configmap.yaml (its DNS resolver replaced by a
// static one naming the replica), and tracebound on gateway/configmap.yaml.
// The app's cf-trace-config header crosses the hop as trace.config: the
// gateway routes and stamps the tenant as the agent alone would, and cuts
// the long trace at max_spans. Skipped when the agent build is not there.
func TestShippedGatewayConfigsDeliver(t *testing.T) {
	agent := agentLBBinary(t)
	if agent.path == "" {
		t.Skip(agent.missing)
	}
	requireAgentHas(t, agent, "gateway/agent-configmap.yaml", shippedConfig(t, "tracebound-agent-lb"))
	tempo := tempoBackend(t)
	setDeployEnv(t, tempo.URL)
	grpcPort, err := collector.FreePort()
	require.NoError(t, err)
	runShipped(t, binaryPath, shortTempDir(t), "tracebound-gateway", func(tree map[string]any) {
		set(t, tree, fmt.Sprintf("127.0.0.1:%d", grpcPort), "receivers", "otlp", "protocols", "grpc", "endpoint")
	})
	dir := shortTempDir(t)
	runShipped(t, agent.path, dir, "tracebound-agent-lb", func(tree map[string]any) {
		set(t, tree, map[string]any{"static": map[string]any{"hostnames": []any{fmt.Sprintf("127.0.0.1:%d", grpcPort)}}},
			"exporters", "load_balancing", "resolver")
	})
	client := udsClient(t, filepath.Join(dir, "otlp.sock"))

	postTraces(t, client, makeTraces(1, 2500), map[string]string{"cf-trace-config": `{"zoneId":12345,"accountId":42}`})
	postTraces(t, client, makeTraces(2, 3), map[string]string{"cf-trace-config": "zone=7;account=8"})
	require.Eventually(t, func() bool { return tempo.Spans() == 2503 }, 30*time.Second, 50*time.Millisecond, "tempo gets every span")
	assert.Equal(t, map[string]int64{"42": 2500, "8": 3}, tempo.AttributeCounts("trace_config.account"))
	assert.Equal(t, map[string]int64{"": 2503}, tempo.AttributeCounts("trace.config"), "trace_routing removes trace.config before delivery")
	assertBounded(t, tempo, 2000)
}
