package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadata"
)

// abandonedError is what export returns for a request the shutdown drain
// gave up on. It wraps the cause (the last attempt's error, or
// errDrainTimedOut when nothing was sent) and exporterhelper's own
// "interrupted due to shutdown" error, so that:
//   - a persistent queue keeps the request in storage for the next start,
//     as it does for a request whose retries stopped at shutdown;
//   - otelcol_exporter_send_failed_spans counts it with error.type=Shutdown;
//   - the queue's per-request "Dropping data" error is not logged (see
//     withoutAbandonedDrops): the drain logs one line per destination.
type abandonedError struct {
	cause error
}

func (e *abandonedError) Error() string {
	return "abandoned at shutdown, drain_timeout ran out: " + e.cause.Error()
}

func (e *abandonedError) Unwrap() []error {
	return []error{exporterhelperShutdownErr(), e.cause}
}

// isAbandoned reports whether err is, or wraps, an abandonedError.
func isAbandoned(err error) bool {
	var abandoned *abandonedError
	return errors.As(err, &abandoned)
}

// exporterhelperShutdownErr returns an error that exporterhelper recognises
// as "interrupted due to shutdown" (its internal experr.shutdownErr). The
// type is internal, so one is obtained the only way exporterhelper makes
// one: a retrying exporter, already shut down, whose only attempt fails;
// its retry stage then returns the shutdown error instead of backing off.
// Built once, in microseconds: the back-off is never waited, the stop
// channel being closed already. The 1 s bound only matters if a future
// exporterhelper behaved otherwise; the error is then a plain one, and
// TestAbandonedIsExporterhelperShutdown fails.
var exporterhelperShutdownErr = sync.OnceValue(func() error {
	errAttempt := errors.New("shutting down")
	set := exporter.Settings{
		ID: component.NewIDWithName(metadata.Type, "shutdown_error"),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zap.NewNop(),
			MeterProvider:  noopmetric.NewMeterProvider(),
			TracerProvider: nooptrace.NewTracerProvider(),
		},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
	retry := otlphttpFactory.CreateDefaultConfig().(*otlphttpexporter.Config).RetryConfig
	retry.Enabled = true
	retry.InitialInterval = time.Hour
	retry.MaxInterval = time.Hour
	retry.RandomizationFactor = 0
	retry.MaxElapsedTime = 0
	timeout := exporterhelper.NewDefaultTimeoutConfig()
	timeout.Timeout = 0
	exp, err := exporterhelper.NewTraces(context.Background(), set, &Config{},
		func(context.Context, ptrace.Traces) error { return errAttempt },
		exporterhelper.WithRetry(retry),
		exporterhelper.WithTimeout(timeout),
	)
	if err != nil {
		return errAttempt
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		return errAttempt
	}
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	// Cancelled, not given a deadline: the retry stage gives up at once,
	// without the shutdown error, on a deadline before the next retry.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer time.AfterFunc(time.Second, cancel).Stop()
	if err := exp.ConsumeTraces(ctx, td); err != nil {
		return err
	}
	return errAttempt
})
