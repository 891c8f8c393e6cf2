package destinationsexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

// loadConfig decodes testdata/config.yaml's entry type/name over the default
// config, as the collector does, and validates it as the collector does.
func loadConfig(t *testing.T, name string) (*Config, error, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err, nil
	}
	return cfg.(*Config), nil, confmap.Validate(cfg)
}

// otlphttpDefault is a destination's default config: otlphttp's, but for
// write_buffer_size.
func otlphttpDefault() *otlphttpexporter.Config {
	cfg := otlphttpexporter.NewFactory().CreateDefaultConfig().(*otlphttpexporter.Config)
	cfg.ClientConfig.WriteBufferSize = 64 << 10
	return cfg
}

func TestConfigDefault(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Empty(t, cfg.Destinations)
	assert.Equal(t, 10*time.Second, cfg.DrainTimeout)
	assert.EqualError(t, cfg.Validate(), "destinations: at least one destination must be configured")
}

func TestConfigValid(t *testing.T) {
	t.Run("minimal keeps every otlphttp default but write_buffer_size", func(t *testing.T) {
		cfg, uerr, verr := loadConfig(t, "minimal")
		require.NoError(t, uerr)
		require.NoError(t, verr)
		want := otlphttpDefault()
		want.ClientConfig.Endpoint = "http://tempo:4318"
		assert.Equal(t, &Config{
			Destinations: map[string]*otlphttpexporter.Config{"tempo": want},
			DrainTimeout: 10 * time.Second,
		}, cfg)
	})

	t.Run("drain_timeout", func(t *testing.T) {
		cfg, uerr, verr := loadConfig(t, "drain")
		require.NoError(t, uerr)
		require.NoError(t, verr)
		assert.Equal(t, 45*time.Second, cfg.DrainTimeout)

		cfg, uerr, verr = loadConfig(t, "no_drain")
		require.NoError(t, uerr)
		require.NoError(t, verr)
		assert.Zero(t, cfg.DrainTimeout, "0 is valid: abandon at once")
	})

	t.Run("full overrides only what it sets", func(t *testing.T) {
		cfg, uerr, verr := loadConfig(t, "full")
		require.NoError(t, uerr)
		require.NoError(t, verr)
		require.Len(t, cfg.Destinations, 3)

		tempo := otlphttpDefault()
		tempo.ClientConfig.Endpoint = "http://tempo:4318"
		assert.Equal(t, tempo, cfg.Destinations["tempo"])

		vendor := cfg.Destinations["vendor.eu-1"]
		assert.Equal(t, "https://otlp.vendor.example", vendor.ClientConfig.Endpoint)
		assert.Equal(t, configcompression.TypeZstd, vendor.ClientConfig.Compression)
		assert.Equal(t, 5*time.Second, vendor.ClientConfig.Timeout)
		key, ok := vendor.ClientConfig.Headers.Get("x-api-key")
		assert.True(t, ok)
		assert.Equal(t, configopaque.String("secret"), key)
		assert.Equal(t, time.Minute, vendor.RetryConfig.MaxElapsedTime)
		// Untouched retry keys keep their defaults.
		assert.True(t, vendor.RetryConfig.Enabled)
		assert.Equal(t, otlphttpDefault().RetryConfig.InitialInterval, vendor.RetryConfig.InitialInterval)
		require.True(t, vendor.QueueConfig.HasValue())
		assert.Equal(t, int64(50), vendor.QueueConfig.Get().QueueSize)
		assert.Equal(t, 2, vendor.QueueConfig.Get().NumConsumers)
		assert.False(t, vendor.QueueConfig.Get().BlockOnOverflow)
		assert.Equal(t, 512<<10, vendor.ClientConfig.WriteBufferSize, "a write_buffer_size given is kept")
		assert.Equal(t, 64<<10, cfg.Destinations["tempo"].ClientConfig.WriteBufferSize, "64 KiB unless given")

		archive := cfg.Destinations["archive"]
		assert.Empty(t, archive.ClientConfig.Endpoint)
		assert.Equal(t, "http://archive:4318/ingest/traces", archive.TracesEndpoint)
		assert.Equal(t, configcompression.TypeGzip, archive.ClientConfig.Compression)
		assert.Equal(t, 30*time.Second, archive.ClientConfig.Timeout)
		assert.Equal(t, int64(100000), archive.QueueConfig.Get().QueueSize)
		assert.Equal(t, 10, archive.QueueConfig.Get().NumConsumers)
	})
}

// movedDefaultDestinations is the whole error of a config that still sets
// default_destinations.
const movedDefaultDestinations = "default_destinations: no longer supported: " +
	"set default_destinations and the on_missing/on_invalid/on_unrouted policies on the trace_routing processor, which decides every route"

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		// unmarshal is the error of decoding, validate the one of validation.
		unmarshal string
		validate  string
	}{
		{name: "no_destinations", validate: "destinations: at least one destination must be configured"},
		{name: "empty_destinations", validate: "destinations: at least one destination must be configured"},
		{name: "bad_name", validate: `destinations: invalid destination name "tempo/eu": must match ^[A-Za-z0-9._-]{1,128}$`},
		{name: "long_name", validate: "must match ^[A-Za-z0-9._-]{1,128}$"},
		{name: "no_endpoint", validate: "destinations::tempo: at least one endpoint must be specified"},
		{name: "bad_queue", validate: "destinations::tempo::sending_queue: `queue_size` must be positive"},
		{name: "queue_disabled", validate: "destinations::tempo::sending_queue: must be enabled"},
		{name: "block_on_overflow", validate: "destinations::tempo::sending_queue::block_on_overflow: must be false"},
		{name: "wait_for_result", validate: "destinations::tempo::sending_queue::wait_for_result: must be false"},
		{name: "moved_default_destinations", unmarshal: movedDefaultDestinations},
		{name: "moved_empty_default_destinations", unmarshal: movedDefaultDestinations},
		{name: "moved_route_attribute", unmarshal: "route_attribute: no longer supported: " +
			"the trace_routing processor stamps the route in the tracebound.route resource attribute, which destinations reads and removes"},
		{name: "negative_drain", validate: "drain_timeout: must not be negative, got -1s"},
		{name: "unknown_key", unmarshal: "destinations::tempo: decoding failed"},
		{name: "unknown_top_key", unmarshal: "has invalid keys: destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, uerr, verr := loadConfig(t, tt.name)
			if tt.unmarshal != "" {
				require.Error(t, uerr)
				assert.Contains(t, uerr.Error(), tt.unmarshal)
				return
			}
			require.NoError(t, uerr)
			require.Error(t, verr)
			assert.Contains(t, verr.Error(), tt.validate)
		})
	}
}
