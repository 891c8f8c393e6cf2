package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/multierr"
	"go.uber.org/zap"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

// Reasons a destination loses spans (attribute reason of spans_lost).
const (
	reasonQueueFull  = "queue_full"
	reasonSendFailed = "send_failed"
)

// destination is one configured destination: a stock otlphttp exporter
// driven through three layers, all reported under the ID otlp_http/<name>:
//
//	queue  exporterhelper with the destination's sending_queue; its export
//	       function sees the final outcome of each request and counts it
//	retry  exporterhelper with the destination's retry_on_failure
//	http   the stock otlphttp exporter (factory-built) without queue or retry
//
// The layers exist so this exporter can count, per destination, what was
// sent and what was lost once retries gave up, which the stock exporter only
// logs. Semantics match a stock otlphttp exporter: non-blocking queue, then
// retries, then one HTTP request per attempt; on shutdown retries stop first
// and the queue is drained with one attempt per request. Only the queue
// layer reports the standard exporter metrics (otelcol_exporter_sent_spans,
// send_failed_spans, enqueue_failed_spans, queue_size, queue_capacity), so
// nothing is counted twice; the inner layers log through the real logger,
// minus their per-attempt "Rejecting data" errors (see logging.go).
type destination struct {
	name  string
	queue exporter.Traces
	retry exporter.Traces
	http  exporter.Traces

	telemetry *metadata.TelemetryBuilder
	attrs     metric.MeasurementOption
	queueFull metric.MeasurementOption
	sendFail  metric.MeasurementOption

	shutdownOnce sync.Once
	shutdownErr  error
}

// subExporterID names the exporter of one destination: otlp_http/<name>, or
// otlp_http/<parent name>.<name> when the destinations exporter has a name of
// its own, so two destinations exporters never report under the same ID.
func subExporterID(parent component.ID, name string) component.ID {
	if parent.Name() != "" {
		name = parent.Name() + "." + name
	}
	return component.NewIDWithName(otlphttpFactory.Type(), name)
}

func newDestination(ctx context.Context, parent exporter.Settings, name string, cfg *otlphttpexporter.Config, tb *metadata.TelemetryBuilder) (*destination, error) {
	d := &destination{
		name:      name,
		telemetry: tb,
		attrs:     metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name))),
		queueFull: metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name), attribute.String("reason", reasonQueueFull))),
		sendFail:  metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name), attribute.String("reason", reasonSendFailed))),
	}
	set := parent
	set.ID = subExporterID(parent.ID, name)
	set.Logger = parent.Logger.With(zap.String("destination", name), zap.String("destination.exporter", set.ID.String()))

	inner := set
	inner.MeterProvider = noopmetric.NewMeterProvider()
	inner.Logger = withoutAttemptFailures(set.Logger)

	noTimeout := exporterhelper.NewDefaultTimeoutConfig()
	noTimeout.Timeout = 0 // the HTTP client's timeout bounds each attempt

	httpCfg := *cfg
	httpCfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	httpCfg.RetryConfig.Enabled = false
	var err error
	if d.http, err = otlphttpFactory.CreateTraces(ctx, inner, &httpCfg); err != nil {
		return nil, err
	}

	retrySet := inner
	retrySet.TracerProvider = nooptrace.NewTracerProvider()
	if d.retry, err = exporterhelper.NewTraces(ctx, retrySet, cfg, d.http.ConsumeTraces,
		exporterhelper.WithRetry(cfg.RetryConfig),
		exporterhelper.WithTimeout(noTimeout),
	); err != nil {
		return nil, err
	}

	if d.queue, err = exporterhelper.NewTraces(ctx, set, cfg, d.export,
		exporterhelper.WithQueue(cfg.QueueConfig),
		exporterhelper.WithTimeout(noTimeout),
	); err != nil {
		return nil, err
	}
	return d, nil
}

// export runs on the queue's consumers: it sends one request through the
// retry layer and counts its final outcome.
func (d *destination) export(ctx context.Context, td ptrace.Traces) error {
	spans := int64(td.SpanCount())
	if err := d.retry.ConsumeTraces(ctx, td); err != nil {
		d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.sendFail)
		return err
	}
	d.telemetry.ExporterDestinationsSpansSent.Add(ctx, spans, d.attrs)
	return nil
}

// offer hands td to the destination's queue without waiting for delivery.
// A refusal (queue full) is counted here and never returned: it concerns
// this destination alone.
func (d *destination) offer(ctx context.Context, td ptrace.Traces) {
	spans := int64(td.SpanCount())
	d.telemetry.ExporterDestinationsSpansRouted.Add(ctx, spans, d.attrs)
	if err := d.queue.ConsumeTraces(ctx, td); err != nil {
		if errors.Is(err, exporterhelper.ErrQueueIsFull) {
			d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.queueFull)
			return
		}
		d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.sendFail)
	}
}

// start starts the layers from the inside out.
func (d *destination) start(ctx context.Context, host component.Host) error {
	for _, c := range []component.Component{d.http, d.retry, d.queue} {
		if err := c.Start(ctx, host); err != nil {
			return fmt.Errorf("destinations::%s: %w", d.name, err)
		}
	}
	return nil
}

// shutdown stops retries first, then drains the queue (one attempt per
// queued request, as a stock exporter does), then stops the HTTP client.
// Later calls return the first call's result: a failed start shuts down
// what it started, and the collector then shuts the exporter down again.
func (d *destination) shutdown(ctx context.Context) error {
	d.shutdownOnce.Do(func() { d.shutdownErr = d.shutdownLayers(ctx) })
	return d.shutdownErr
}

func (d *destination) shutdownLayers(ctx context.Context) error {
	var err error
	for _, c := range []component.Component{d.retry, d.queue, d.http} {
		err = multierr.Append(err, c.Shutdown(ctx))
	}
	if err != nil {
		return fmt.Errorf("destinations::%s: %w", d.name, err)
	}
	return nil
}
