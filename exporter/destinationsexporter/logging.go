package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// attemptFailedMessage starts the error exporterhelper logs when a send
// fails. The inner layers of a destination (retry, http) would log it for
// every attempt, with hints to enable a queue and retries that the outer
// layers do have; the queue layer logs the one line that matters, when a
// request is finally dropped.
const attemptFailedMessage = "Exporting failed. Rejecting data."

// withoutAttemptFailures returns logger minus attemptFailedMessage entries.
func withoutAttemptFailures(logger *zap.Logger) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return dropMessageCore{Core: core, prefix: attemptFailedMessage}
	}))
}

// dropMessageCore drops the entries whose message starts with prefix.
type dropMessageCore struct {
	zapcore.Core
	prefix string
}

func (c dropMessageCore) With(fields []zapcore.Field) zapcore.Core {
	return dropMessageCore{Core: c.Core.With(fields), prefix: c.prefix}
}

func (c dropMessageCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(entry.Message, c.prefix) {
		return checked
	}
	return c.Core.Check(entry, checked)
}

// droppedMessage starts the error the queue layer logs when a request is
// finally dropped.
const droppedMessage = "Exporting failed. Dropping data."

// withoutAbandonedDrops returns logger minus the droppedMessage entries
// whose error is an abandonedError: the drain abandons requests by the
// hundred, and reports them in one line per destination instead. Other
// droppedMessage entries (a request that failed for its own reasons) stay.
func withoutAbandonedDrops(logger *zap.Logger) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return abandonedDropsCore{Core: core}
	}))
}

// abandonedDropsCore lets droppedMessage entries through the wrapped core's
// own Check (level, sampling), then decides on their fields when written.
type abandonedDropsCore struct {
	zapcore.Core
}

func (c abandonedDropsCore) With(fields []zapcore.Field) zapcore.Core {
	return abandonedDropsCore{Core: c.Core.With(fields)}
}

func (c abandonedDropsCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !strings.HasPrefix(entry.Message, droppedMessage) {
		return c.Core.Check(entry, checked)
	}
	inner := c.Core.Check(entry, nil)
	if inner == nil {
		return checked
	}
	return checked.AddCore(entry, unlessAbandoned{inner: inner})
}

// unlessAbandoned writes one checked entry unless its fields hold an
// abandonedError.
type unlessAbandoned struct {
	inner *zapcore.CheckedEntry
}

func (u unlessAbandoned) Enabled(zapcore.Level) bool        { return true }
func (u unlessAbandoned) With([]zapcore.Field) zapcore.Core { return u }
func (u unlessAbandoned) Sync() error                       { return nil }
func (u unlessAbandoned) Check(_ zapcore.Entry, c *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return c
}

func (u unlessAbandoned) Write(_ zapcore.Entry, fields []zapcore.Field) error {
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && isAbandoned(err) {
			return nil
		}
	}
	u.inner.Write(fields...)
	return nil
}
