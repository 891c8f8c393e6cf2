package otlpudsreceiver

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadatatest"
)

// shortTempDir returns a fresh folder with a short path: t.TempDir() can
// exceed the 108-byte limit of a unix socket path.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "uds")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// testConfig is the default config listening on a socket in a fresh folder.
func testConfig(t testing.TB) *Config {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(shortTempDir(t), "otlp.sock")
	return cfg
}

// consumers are the pipeline ends a test receiver feeds.
type consumers struct {
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
}

// sinks returns consumers backed by fresh sinks.
func sinks() (consumers, *consumertest.TracesSink, *consumertest.MetricsSink, *consumertest.LogsSink) {
	ts, ms, ls := new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink)
	return consumers{traces: ts, metrics: ms, logs: ls}, ts, ms, ls
}

// testReceiver is a started receiver, its telemetry and a client on its
// socket.
type testReceiver struct {
	cfg    *Config
	comp   component.Component
	tt     *componenttest.Telemetry
	client *http.Client
}

// createReceiver builds (without starting) one receiver shared by the
// signals that have a consumer.
func createReceiver(t testing.TB, cfg *Config, cons consumers) (component.Component, *componenttest.Telemetry) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	f := NewFactory()
	var comp component.Component
	var err error
	if cons.traces != nil {
		comp, err = f.CreateTraces(context.Background(), set, cfg, cons.traces)
		require.NoError(t, err)
	}
	if cons.metrics != nil {
		comp, err = f.CreateMetrics(context.Background(), set, cfg, cons.metrics)
		require.NoError(t, err)
	}
	if cons.logs != nil {
		comp, err = f.CreateLogs(context.Background(), set, cfg, cons.logs)
		require.NoError(t, err)
	}
	require.NotNil(t, comp)
	return comp, tt
}

// startReceiver creates and starts a receiver; it is shut down at cleanup.
func startReceiver(t testing.TB, cfg *Config, cons consumers) *testReceiver {
	t.Helper()
	comp, tt := createReceiver(t, cfg, cons)
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, comp.Shutdown(context.Background())) })
	return &testReceiver{cfg: cfg, comp: comp, tt: tt, client: udsClient(t, cfg.ServerConfig.NetAddr.Endpoint)}
}

// udsClient is an HTTP client that dials the socket at path.
func udsClient(t testing.TB, path string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// post sends body to urlPath with the given headers and returns the
// answer and its body.
func post(t testing.TB, c *http.Client, urlPath string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	return do(t, c, http.MethodPost, urlPath, body, headers)
}

func do(t testing.TB, c *http.Client, method, urlPath string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://otlpuds"+urlPath, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, respBody
}

// counter returns the sum of an int counter's points matching attribute
// key=value (any point if key is empty); 0 if the metric was never recorded.
func counter(t testing.TB, tt *componenttest.Telemetry, name, key, value string) int64 {
	t.Helper()
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		if key != "" {
			v, found := dp.Attributes.Value(attribute.Key(key))
			if !found || v.AsString() != value {
				continue
			}
		}
		total += dp.Value
	}
	return total
}

var _ receiver.Factory = NewFactory()

func metricdataIgnoreTime() []metricdatatest.Option {
	return []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
}

func lookupGroupName(gid int) (string, error) {
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
