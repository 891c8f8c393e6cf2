package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

// NewFactory returns the factory of the destinations exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{DrainTimeout: defaultDrainTimeout}
}

// createTraces builds one otlphttp exporter per destination up front, so a
// destination whose config the otlphttp factory refuses fails the collector
// at start-up, then wraps the dispatcher in exporterhelper without a queue or
// retries of its own: each destination queues and retries for itself, and
// the dispatcher only hands resources over.
func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	exp, err := newDestinationsExporter(ctx, set, cfg.(*Config), time.Now)
	if err != nil {
		return nil, err
	}
	timeout := exporterhelper.NewDefaultTimeoutConfig()
	timeout.Timeout = 0
	return exporterhelper.NewTraces(ctx, set, cfg,
		exp.pushTraces,
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
		// Resources are moved, not copied, into each destination's batch.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		exporterhelper.WithTimeout(timeout),
	)
}
