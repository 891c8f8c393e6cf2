package traceroutingprocessor

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadata"
	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadatatest"
)

func TestFactoryTracesOnly(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := metadatatest.NewSettings(tel)
	_, err := f.CreateMetrics(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop())
	require.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
	_, err = f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop())
	require.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
}

func TestNextConsumerErrorIsReturned(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	boom := errors.New("backend full")
	proc, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig(), consumertest.NewErr(boom))
	require.NoError(t, err)
	err = proc.ConsumeTraces(withHeader("cf-trace-config", configFor("tempo")), makeTraces(t, res{service: "a", spans: 1}))
	require.ErrorIs(t, err, boom)
	// Drops are never errors, whatever the next consumer would say.
	require.NoError(t, proc.ConsumeTraces(context.Background(), makeTraces(t, res{service: "a", spans: 1})))
}
