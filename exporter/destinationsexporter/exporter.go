package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/multierr"
	"go.uber.org/zap"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
	"github.com/tracebound/tracebound/internal/route"
	"github.com/tracebound/tracebound/internal/warnlimit"
)

// destinationsExporter dispatches each batch to the destinations the routes
// of its resources name. Dispatch only offers data to non-blocking queues, so
// it never waits on a destination and never returns a destination's failure.
type destinationsExporter struct {
	dests     []*destination // sorted by name
	router    router
	telemetry *metadata.TelemetryBuilder

	// logger and warnings report drops: at most one warning per reason per
	// warnlimit.DefaultInterval, with the count since the last one.
	logger   *zap.Logger
	warnings *warnlimit.Limiter

	unrouted metric.MeasurementOption
	unknown  metric.MeasurementOption

	// drainTimeout bounds shutdown (drain_timeout).
	drainTimeout time.Duration

	shutdownOnce sync.Once
	shutdownErr  error
}

// newDestinationsExporter builds the exporter and every destination; now is
// the clock of the drop warnings (time.Now, a test clock in tests).
func newDestinationsExporter(ctx context.Context, set exporter.Settings, cfg *Config, now func() time.Time) (*destinationsExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &destinationsExporter{
		telemetry: tb,
		router:    router{index: make(map[string]int, len(cfg.Destinations))},
		logger:    set.Logger,
		warnings:  warnlimit.New(warnlimit.DefaultInterval, now),
		unrouted:  metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonUnrouted))),
		unknown:   metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonUnknownDestination))),

		drainTimeout: cfg.DrainTimeout,
	}
	for _, name := range sortedNames(cfg.Destinations) {
		d, err := newDestination(ctx, set, name, cfg.Destinations[name], tb)
		if err != nil {
			// Release what the destinations built so far registered
			// (queue gauges); none of them was started.
			for _, built := range e.dests {
				_ = built.shutdown(ctx, ctx)
			}
			tb.Shutdown()
			return nil, fmt.Errorf("destinations::%s: %w", name, err)
		}
		e.router.index[name] = len(e.dests)
		e.dests = append(e.dests, d)
	}
	return e, nil
}

// pushTraces groups td's resources by the destinations their routes name and
// offers each group to its destination's queue. It returns nil: what a
// destination refuses, and what no destination takes, is counted, never
// returned, so the caller never retries a batch that the other destinations
// already took.
func (e *destinationsExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	p := e.router.split(td)
	if p.unroutedSpans > 0 {
		e.telemetry.ExporterDestinationsSpansDropped.Add(ctx, p.unroutedSpans, e.unrouted)
		if warn, since := e.warnings.Note(reasonUnrouted, p.unroutedSpans); warn {
			e.logger.Warn("Dropping spans of resources that arrived without the "+route.Attribute+
				" attribute: the trace_routing processor must run in the same pipeline, before this exporter, to stamp every resource with its route",
				zap.String("reason", reasonUnrouted),
				zap.Int64("spans_since_last_warning", since))
		}
	}
	if p.unknownSpans > 0 {
		e.telemetry.ExporterDestinationsSpansDropped.Add(ctx, p.unknownSpans, e.unknown)
		if warn, since := e.warnings.Note(reasonUnknownDestination, p.unknownSpans); warn {
			e.logger.Warn("Dropping spans for a destination named in their route that is not configured: the name is not a key of destinations",
				zap.String("reason", reasonUnknownDestination),
				zap.String("destination", logName(p.unknownName)),
				zap.Int64("spans_since_last_warning", since))
		}
	}
	for i, d := range e.dests {
		if p.used[i] {
			d.offer(ctx, p.batches[i])
		}
	}
	return nil
}

// logName bounds a name read from a route for a log line: trace_routing only
// writes valid names, at most route.MaxNameLen bytes, but the attribute may
// have been set by someone else.
func logName(name string) string {
	if len(name) > route.MaxNameLen {
		return name[:route.MaxNameLen] + "..."
	}
	return name
}

// start starts every destination; if one fails, those already started are
// shut down (their queues are empty: nothing to drain) and the error names
// the destination.
func (e *destinationsExporter) start(ctx context.Context, host component.Host) error {
	for i, d := range e.dests {
		if err := d.start(ctx, host); err != nil {
			for _, started := range e.dests[:i+1] {
				_ = started.shutdown(ctx, ctx)
			}
			return err
		}
	}
	return nil
}

// shutdown drains every destination's queue, all destinations at once, so a
// slow destination's drain does not hold back the others', within one
// drain_timeout for all of them. Shutting down twice is harmless: the second
// call returns the first one's result.
func (e *destinationsExporter) shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() { e.shutdownErr = e.shutdownAll(ctx) })
	return e.shutdownErr
}

// shutdownAll bounds the drain itself: the collector passes a context
// without a deadline (the service shuts components down with the context
// Run was given, usually context.Background()), so drain_timeout is the only
// bound, or ctx's own end when it comes first. Then each destination that
// abandoned spans gets one warning with their count.
func (e *destinationsExporter) shutdownAll(ctx context.Context) error {
	drain, cancel := context.WithTimeout(ctx, e.drainTimeout)
	defer cancel()
	errs := make([]error, len(e.dests))
	var wg sync.WaitGroup
	for i, d := range e.dests {
		wg.Go(func() { errs[i] = d.shutdown(ctx, drain) })
	}
	wg.Wait()
	for _, d := range e.dests {
		if spans := d.abandonedSpans.Load(); spans > 0 {
			e.logger.Warn("Shutdown drain ran out of time: spans still queued or in flight for this destination were not delivered",
				zap.String("destination", d.name),
				// As written in the config ("10s"), not in the
				// encoder's duration unit.
				zap.String("drain_timeout", e.drainTimeout.String()),
				zap.Int64("spans", spans))
		}
	}
	e.telemetry.Shutdown()
	return multierr.Combine(errs...)
}
