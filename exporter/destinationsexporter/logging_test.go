package destinationsexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestWithoutAttemptFailures(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	logger := withoutAttemptFailures(zap.New(core)).With(zap.String("destination", "tempo"))
	logger.Error(attemptFailedMessage + " Try enabling retry_on_failure config option.")
	logger.Info("Exporting failed. Will retry the request after interval.")
	entries := logs.All()
	if assert.Len(t, entries, 1) {
		assert.Equal(t, "Exporting failed. Will retry the request after interval.", entries[0].Message)
		assert.Equal(t, "tempo", entries[0].ContextMap()["destination"])
	}
}
