package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"sync"

	"go.uber.org/zap"

	"github.com/tracebound/tracebound/internal/warnlimit"
)

// sampleBytes bounds the part of a trace config a warning shows.
const sampleBytes = 128

// warner tells the operator about spans a trace config did not route. The
// sender still gets 200 for them, so without these warnings a mistake in
// `fields` or `routes` would only show in counters: each reason logs at most
// one warning a minute, with a sample of the trace config and how many spans
// it concerned since the last warning.
type warner struct {
	logger *zap.Logger
	limit  *warnlimit.Limiter
	header string

	noMetadataOnce sync.Once
}

func newWarner(logger *zap.Logger, header string, limit *warnlimit.Limiter) *warner {
	return &warner{logger: logger, limit: limit, header: header}
}

// policyKeys names the config key of each reason's policy.
var policyKeys = [numReasons]string{
	reasonMissing:  "on_missing",
	reasonInvalid:  "on_invalid",
	reasonUnrouted: "on_unrouted",
}

var reasonMessages = [numReasons]string{
	reasonMissing:            "Spans arrived without a trace config (no header and no trace.config resource attribute)",
	reasonInvalid:            "Spans arrived with a trace config that cannot be read",
	reasonUnrouted:           "Spans arrived with a trace config that names no destinations and matches no route",
	reasonUnknownDestination: "A trace config named destinations that allowed_destinations does not list; the spans do not go to them",
}

// entries notes one request's decisions and logs what is due.
func (w *warner) entries(entries []entry) {
	for i := range entries {
		e := &entries[i]
		if why := e.d.fallback; why != reasonNone {
			w.note(why, e.spans, e.d)
		}
		if e.d.unknown > 0 {
			w.note(reasonUnknownDestination, e.spans*int64(e.d.unknown), e.d)
		}
	}
}

func (w *warner) note(why reason, spans int64, d *decision) {
	warn, since := w.limit.Note(why.String(), spans)
	if !warn {
		return
	}
	fields := []zap.Field{
		zap.String("reason", why.String()),
		zap.String("header", w.header),
		zap.Int64("spans_since_last_warning", since),
	}
	if d.raw != "" {
		fields = append(fields, zap.String("sample", sample(d.raw)))
	}
	if d.err != nil {
		fields = append(fields, zap.Error(d.err))
	}
	if key := policyKeys[why]; key != "" {
		// What the router applied shows in the decision: a default
		// policy gave it the default route, drop left it none.
		applied := PolicyDrop
		if d.route != "" {
			applied = PolicyDefault
		}
		fields = append(fields, zap.String(key, string(applied)))
	}
	w.logger.Warn(reasonMessages[why], fields...)
}

// noMetadata warns, once, that a request reached the processor without any
// client metadata, so no header can ever be read.
func (w *warner) noMetadata() {
	w.noMetadataOnce.Do(func() {
		w.logger.Warn("A request reached trace_routing without any client metadata, so its trace config header cannot be read: "+
			"a processor before trace_routing dropped it (batch without metadata_keys; place trace_routing before batch), "+
			"or the receiver does not keep request headers (include_metadata: false)",
			zap.String("header", w.header))
	})
}

// sample is the start of a trace config, for a warning.
func sample(raw string) string {
	if len(raw) <= sampleBytes {
		return raw
	}
	return raw[:sampleBytes]
}
