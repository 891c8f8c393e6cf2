package destinationsexporter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
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
	assert.True(t, strings.HasPrefix(err.Error(), "destinations::broken: "), "the error names the destination by its config key: %v", err)
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

// fakeLayer stands in for one layer of a destination (http, retry or
// queue), counting its starts and shutdowns.
type fakeLayer struct {
	consumer.Traces
	startErr, shutdownErr error
	starts, shutdowns     int
}

func (f *fakeLayer) Start(context.Context, component.Host) error { f.starts++; return f.startErr }
func (f *fakeLayer) Shutdown(context.Context) error              { f.shutdowns++; return f.shutdownErr }

func fakeDestination(name string, startErr, shutdownErr error) (*destination, []*fakeLayer) {
	layers := []*fakeLayer{
		{Traces: consumertest.NewNop(), startErr: startErr},
		{Traces: consumertest.NewNop()},
		{Traces: consumertest.NewNop(), shutdownErr: shutdownErr},
	}
	d := &destination{name: name, http: layers[0], retry: layers[1], queue: layers[2]}
	d.abandonCtx, d.abandon = context.WithCancel(context.Background())
	return d, layers
}

// Start and shutdown errors name the destination by its config key, as
// creation and validation errors do.
func TestLifecycleErrorsNameConfigKey(t *testing.T) {
	d, _ := fakeDestination("tempo", errors.New("cannot start"), nil)
	assert.EqualError(t, d.start(context.Background(), componenttest.NewNopHost()), "destinations::tempo: cannot start")

	d, _ = fakeDestination("vendor", nil, errors.New("cannot drain"))
	assert.EqualError(t, d.shutdown(context.Background(), context.Background()), "destinations::vendor: cannot drain")
}

// When a destination fails to start, the exporter's start shuts down the
// destinations started before it (and the failing one's started layers),
// never starts the ones after it, and the collector's later Shutdown does
// not shut anything down twice.
func TestStartFailureShutsDownStartedDestinations(t *testing.T) {
	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	a, aLayers := fakeDestination("a", nil, nil)
	b, bLayers := fakeDestination("b", nil, nil)
	c, cLayers := fakeDestination("c", errors.New("no storage"), nil)
	d, dLayers := fakeDestination("d", nil, nil)
	e := &destinationsExporter{dests: []*destination{a, b, c, d}, telemetry: tb}

	require.EqualError(t, e.start(context.Background(), componenttest.NewNopHost()), "destinations::c: no storage")
	for name, layers := range map[string][]*fakeLayer{"a": aLayers, "b": bLayers} {
		for i, l := range layers {
			assert.Equal(t, 1, l.starts, "%s layer %d started", name, i)
			assert.Equal(t, 1, l.shutdowns, "%s layer %d shut down after the failed start", name, i)
		}
	}
	assert.Equal(t, 1, cLayers[0].starts, "c's first layer failed to start")
	assert.Zero(t, cLayers[1].starts, "nothing after the failing layer starts")
	for i, l := range dLayers {
		assert.Zero(t, l.starts, "d layer %d is after the failure: never started", i)
	}

	require.NoError(t, e.shutdown(context.Background()))
	for name, layers := range map[string][]*fakeLayer{"a": aLayers, "b": bLayers, "c": cLayers} {
		for i, l := range layers {
			assert.Equal(t, 1, l.shutdowns, "%s layer %d shut down exactly once", name, i)
		}
	}
}
