package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

// NewFactory returns the factory of the otlpuds receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

// receivers holds one receiver per configuration, shared by the traces,
// metrics and logs pipelines that use it: they all listen on one socket.
var receivers = newSharedReceivers()

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r, err := receivers.getOrCreate(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.recv.nextTraces = next
	return r, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := receivers.getOrCreate(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.recv.nextMetrics = next
	return r, nil
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := receivers.getOrCreate(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.recv.nextLogs = next
	return r, nil
}
