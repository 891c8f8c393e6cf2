package destinationsexporter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadatatest"
)

// A destination's headers (configopaque) reach its backend and never a log
// line, at any level, whether the backend accepts or refuses the data.
func TestHeadersNeverLogged(t *testing.T) {
	const secret = "s3cr3t-api-key-value"
	var (
		mu   sync.Mutex
		seen []string
	)
	serve := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("X-Api-Key"))
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	withSecret := func(endpoint string) *otlphttpexporter.Config {
		c := destinationConfig(endpoint)
		c.ClientConfig.Headers.Set("X-Api-Key", configopaque.String(secret))
		return c
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"ok":      withSecret(serve(http.StatusOK).URL),
		"refused": withSecret(serve(http.StatusUnauthorized).URL),
		"failing": withSecret(serve(http.StatusServiceUnavailable).URL),
	}
	require.NoError(t, cfg.Validate())

	core, logs := observer.New(zap.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(
		resourceSpec{to: "ok", spans: 1},
		resourceSpec{to: "refused", spans: 1},
		resourceSpec{to: "failing", spans: 1},
	)))
	require.Eventually(t, func() bool {
		return counter(t, tel, metricLost, "reason", "send_failed") == 2
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	mu.Lock()
	require.NotEmpty(t, seen)
	for _, got := range seen {
		assert.Equal(t, secret, got, "the header must reach the backend")
	}
	mu.Unlock()
	require.NotEmpty(t, logs.All(), "the refused and failing destinations log their failures")
	for _, entry := range logs.All() {
		line := entry.Message + fmt.Sprint(entry.ContextMap())
		assert.NotContains(t, line, secret)
	}
}
