package destinationsexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

func TestSubExporterID(t *testing.T) {
	assert.Equal(t, "otlp_http/tempo", subExporterID(component.NewID(metadata.Type), "tempo").String())
	assert.Equal(t, "otlp_http/gw.tempo", subExporterID(component.NewIDWithName(metadata.Type, "gw"), "tempo").String())
}

// A destination that cannot start fails the exporter's start, naming it,
// and the destinations already started are shut down.
func TestStartFailureNamesDestination(t *testing.T) {
	storage := component.MustNewIDWithName("file_storage", "missing")
	broken := destinationConfig("http://127.0.0.1:1")
	broken.QueueConfig.Get().StorageID = &storage
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a-ok":   destinationConfig("http://127.0.0.1:1"),
		"broken": broken,
	}
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `destination "broken"`)
	require.NoError(t, exp.Shutdown(context.Background()))
}

// A destination the otlphttp factory refuses fails creation, naming it.
func TestCreateFailureNamesDestination(t *testing.T) {
	bad := destinationConfig("")
	bad.TracesEndpoint = "http://[::1"
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a-ok": destinationConfig("http://127.0.0.1:1"),
		"bad":  bad,
	}
	_, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "destinations::bad: ")
}

// A default destination that is not configured fails creation even when
// Validate was skipped (a config built in code); it must never fall back to
// the first destination.
func TestUnknownDefaultDestinationFailsCreation(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{
		"a-first": destinationConfig("http://127.0.0.1:1"),
	}
	cfg.DefaultDestinations = []string{"nope"}
	_, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.EqualError(t, err, `default_destinations: "nope" is not a key of destinations`)
}
