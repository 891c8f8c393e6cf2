package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
	reasonShutdown   = "shutdown"
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
// logs. While running, semantics match a stock otlphttp exporter:
// non-blocking queue, then retries, then one HTTP request per attempt.
// Shutdown differs (see shutdown): the queue drains with retries until the
// drain time runs out, then what is left is abandoned and counted. Only the
// queue layer reports the standard exporter metrics
// (otelcol_exporter_sent_spans, send_failed_spans, enqueue_failed_spans,
// queue_size, queue_capacity), so nothing is counted twice; the inner layers
// log through the real logger minus their per-attempt "Rejecting data"
// errors, and the queue layer minus its per-request "Dropping data" errors
// for what the drain abandoned (see logging.go).
type destination struct {
	name  string
	queue exporter.Traces
	retry exporter.Traces
	http  exporter.Traces

	// persistent is set when the sending queue has storage: what it holds,
	// and what the drain abandons in flight, stays in storage for the next
	// start, so it is neither drained nor counted as lost.
	persistent bool

	telemetry *metadata.TelemetryBuilder
	attrs     metric.MeasurementOption
	queueFull metric.MeasurementOption
	sendFail  metric.MeasurementOption
	shutLoss  metric.MeasurementOption

	// abandonCtx is cancelled (abandon) when the shutdown drain runs out of
	// time: every export in flight derives its context from it, so a hanging
	// request or a retry's back-off ends at once, and an export started
	// later gives up without sending.
	abandonCtx context.Context
	abandon    context.CancelFunc
	// abandonedSpans counts the spans shutdown lost (abandoned by the drain
	// from a memory queue, or offered once shutdown began), for the one
	// warning of the shutdown.
	abandonedSpans atomic.Int64

	// closing is taken for reading by offer and for writing once by
	// shutdown, so every offer either reaches the queue before its drain
	// starts or is counted lost (closed): none is left in a stopped queue
	// that no consumer reads any more.
	closing sync.RWMutex
	closed  bool

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
		name:       name,
		persistent: cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().StorageID != nil,
		telemetry:  tb,
		attrs:      metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name))),
		queueFull:  metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name), attribute.String("reason", reasonQueueFull))),
		sendFail:   metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name), attribute.String("reason", reasonSendFailed))),
		shutLoss:   metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name), attribute.String("reason", reasonShutdown))),
	}
	d.abandonCtx, d.abandon = context.WithCancel(context.Background())
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

	queueSet := set
	queueSet.Logger = withoutAbandonedDrops(set.Logger)
	if d.queue, err = exporterhelper.NewTraces(ctx, queueSet, cfg, d.export,
		exporterhelper.WithQueue(cfg.QueueConfig),
		exporterhelper.WithTimeout(noTimeout),
	); err != nil {
		return nil, err
	}
	return d, nil
}

// export runs on the queue's consumers: it sends one request through the
// retry layer and counts its final outcome. Once the drain is abandoned, a
// request fails at once (or, in flight, as soon as its attempt or back-off
// notices) and is counted as lost with reason shutdown: a failure after that
// moment is the drain's doing, whatever the last attempt said. A request the
// backend accepted is counted sent, abandoned or not.
func (d *destination) export(ctx context.Context, td ptrace.Traces) error {
	spans := int64(td.SpanCount())
	if d.abandonCtx.Err() != nil {
		return d.abandoned(ctx, spans, errDrainTimedOut)
	}
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.abandonCtx, cancel)()
	if err := d.retry.ConsumeTraces(sendCtx, td); err != nil {
		if d.abandonCtx.Err() != nil {
			return d.abandoned(ctx, spans, err)
		}
		d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.sendFail)
		return err
	}
	d.telemetry.ExporterDestinationsSpansSent.Add(ctx, spans, d.attrs)
	return nil
}

// errDrainTimedOut is the cause of a request the drain abandoned before
// sending it.
var errDrainTimedOut = errors.New("not sent: the shutdown drain ran out of drain_timeout")

// abandoned counts a request the drain gave up on and returns the error
// that tells the queue so (see abandonedError). A persistent queue keeps the
// request in storage for the next start: it is not lost, so not counted.
func (d *destination) abandoned(ctx context.Context, spans int64, cause error) error {
	if !d.persistent {
		d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.shutLoss)
		d.abandonedSpans.Add(spans)
	}
	return &abandonedError{cause: cause}
}

// offer hands td to the destination's queue without waiting for delivery.
// A refusal (queue full) is counted here and never returned: it concerns
// this destination alone. Data offered once the destination's shutdown has
// begun (the collector stops the pipeline upstream first, so only a
// misbehaving caller does this) is counted as lost with reason shutdown.
func (d *destination) offer(ctx context.Context, td ptrace.Traces) {
	spans := int64(td.SpanCount())
	d.telemetry.ExporterDestinationsSpansRouted.Add(ctx, spans, d.attrs)
	d.closing.RLock()
	defer d.closing.RUnlock()
	if d.closed {
		d.telemetry.ExporterDestinationsSpansLost.Add(ctx, spans, d.shutLoss)
		d.abandonedSpans.Add(spans)
		return
	}
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

// shutdown drains the queue until drain is done, then abandons what is left
// (see export), then stops the retry layer and the HTTP client. Unlike a
// stock exporter, which stops retrying first and then sends each queued
// request once, waiting out its timeout, retries go on while drain lasts:
// a destination that answers 503 for a moment still gets its data, and a
// hanging one holds shutdown no longer than drain. ctx is the collector's,
// passed to each layer's Shutdown. A persistent queue is not drained: it
// stops reading and keeps what it holds for the next start; only its
// requests already in flight are finished, within drain.
//
// Later calls return the first call's result: a failed start shuts down
// what it started, and the collector then shuts the exporter down again.
func (d *destination) shutdown(ctx, drain context.Context) error {
	d.shutdownOnce.Do(func() { d.shutdownErr = d.shutdownLayers(ctx, drain) })
	return d.shutdownErr
}

func (d *destination) shutdownLayers(ctx, drain context.Context) error {
	d.closing.Lock()
	d.closed = true
	d.closing.Unlock()

	stop := context.AfterFunc(drain, d.abandon)
	// Returns once every queued request went through export: delivered,
	// failed, or abandoned when drain ended.
	err := d.queue.Shutdown(ctx)
	stop()
	d.abandon() // nothing is in flight any more; releases abandonCtx
	for _, c := range []component.Component{d.retry, d.http} {
		err = multierr.Append(err, c.Shutdown(ctx))
	}
	if err != nil {
		return fmt.Errorf("destinations::%s: %w", d.name, err)
	}
	return nil
}
