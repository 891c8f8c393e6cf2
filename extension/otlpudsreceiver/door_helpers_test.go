package otlpudsreceiver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadatatest"
)

// loggedReceiver is a receiver built with an observed logger, not started.
type loggedReceiver struct {
	recv *udsReceiver
	comp *sharedReceiver
	tt   *componenttest.Telemetry
	logs *observer.ObservedLogs
}

// newLoggedReceiver builds a traces receiver on cfg whose logs the test
// reads; it is shut down at cleanup.
func newLoggedReceiver(t *testing.T, cfg *Config) *loggedReceiver {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	core, logs := observer.New(zapcore.InfoLevel)
	set.Logger = zap.New(core)
	cons, _, _, _ := sinks()
	comp, err := NewFactory().CreateTraces(context.Background(), set, cfg, cons.traces)
	require.NoError(t, err)
	sr := comp.(*sharedReceiver)
	t.Cleanup(func() { require.NoError(t, sr.Shutdown(context.Background())) })
	return &loggedReceiver{recv: sr.recv, comp: sr, tt: tt, logs: logs}
}

func (lr *loggedReceiver) start() error {
	return lr.comp.Start(context.Background(), componenttest.NewNopHost())
}

// messages returns the messages logged at level.
func (lr *loggedReceiver) messages(level zapcore.Level) []string {
	var out []string
	for _, e := range lr.logs.FilterLevelExact(level).All() {
		out = append(out, e.Message)
	}
	return out
}

// postOK posts a one-span trace request on a fresh connection to path and
// returns the status (0 if the request failed).
func postOnce(t *testing.T, path string) int {
	t.Helper()
	c := udsClient(t, path)
	c.Timeout = 5 * time.Second
	c.Transport.(*http.Transport).DisableKeepAlives = true
	req, err := http.NewRequest(http.MethodPost, "http://otlpuds"+pathTraces, bytesReader(tracesBody(t, 1, encodingProtobuf)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentTypeProtobuf)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
