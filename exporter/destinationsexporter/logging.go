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
