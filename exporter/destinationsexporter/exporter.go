package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/multierr"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

// destinationsExporter dispatches each batch to the destinations its
// resources name. Dispatch only offers data to non-blocking queues, so it
// never waits on a destination and never returns a destination's failure.
type destinationsExporter struct {
	dests     []*destination // sorted by name
	router    router
	telemetry *metadata.TelemetryBuilder

	unrouted metric.MeasurementOption
	unknown  metric.MeasurementOption

	shutdownOnce sync.Once
	shutdownErr  error
}

func newDestinationsExporter(ctx context.Context, set exporter.Settings, cfg *Config) (*destinationsExporter, error) {
	// Validate checks this too; checked again, before anything is built,
	// because a config built in code may skip Validate.
	if err := cfg.validateDefaults(); err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &destinationsExporter{
		telemetry: tb,
		router: router{
			attribute: cfg.RouteAttribute,
			index:     make(map[string]int, len(cfg.Destinations)),
		},
		unrouted: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonUnrouted))),
		unknown:  metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonUnknownDestination))),
	}
	for _, name := range sortedNames(cfg.Destinations) {
		d, err := newDestination(ctx, set, name, cfg.Destinations[name], tb)
		if err != nil {
			// Release what the destinations built so far registered
			// (queue gauges); none of them was started.
			for _, built := range e.dests {
				_ = built.shutdown(ctx)
			}
			tb.Shutdown()
			return nil, fmt.Errorf("destinations::%s: %w", name, err)
		}
		e.router.index[name] = len(e.dests)
		e.dests = append(e.dests, d)
	}
	// validateDefaults made every name a key of index, listed once.
	for _, name := range cfg.DefaultDestinations {
		e.router.defaults = append(e.router.defaults, e.router.index[name])
	}
	return e, nil
}

// pushTraces groups td's resources by destination and offers each group to
// its destination's queue. It returns nil: what a destination refuses, and
// what no destination takes, is counted, never returned, so the caller never
// retries a batch that the other destinations already took.
func (e *destinationsExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	rt := e.router.split(td)
	if rt.unroutedSpans > 0 {
		e.telemetry.ExporterDestinationsSpansDropped.Add(ctx, rt.unroutedSpans, e.unrouted)
	}
	if rt.unknownSpans > 0 {
		e.telemetry.ExporterDestinationsSpansDropped.Add(ctx, rt.unknownSpans, e.unknown)
	}
	for i, d := range e.dests {
		if rt.used[i] {
			d.offer(ctx, rt.batches[i])
		}
	}
	return nil
}

// start starts every destination; if one fails, those already started are
// shut down and the error names the destination.
func (e *destinationsExporter) start(ctx context.Context, host component.Host) error {
	for i, d := range e.dests {
		if err := d.start(ctx, host); err != nil {
			for _, started := range e.dests[:i+1] {
				_ = started.shutdown(ctx)
			}
			return err
		}
	}
	return nil
}

// shutdown drains every destination's queue, all destinations at once, so a
// slow destination's drain does not hold back the others'. Shutting down
// twice is harmless: the second call returns the first one's result.
func (e *destinationsExporter) shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() { e.shutdownErr = e.shutdownAll(ctx) })
	return e.shutdownErr
}

func (e *destinationsExporter) shutdownAll(ctx context.Context) error {
	errs := make([]error, len(e.dests))
	var wg sync.WaitGroup
	for i, d := range e.dests {
		wg.Go(func() { errs[i] = d.shutdown(ctx) })
	}
	wg.Wait()
	e.telemetry.Shutdown()
	return multierr.Combine(errs...)
}
