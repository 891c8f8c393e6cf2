package destinationsexporter

import (
	"errors"
	"fmt"
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

// The queue's "Dropping data" error is kept for a request that failed on its
// own, and left out for one the drain abandoned; other entries pass, with
// their fields, and the wrapped core's level still applies.
func TestWithoutAbandonedDrops(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	logger := withoutAbandonedDrops(zap.New(core)).With(zap.String("destination", "tempo"))
	logger.Error(droppedMessage, zap.Error(&abandonedError{cause: errDrainTimedOut}), zap.Int("dropped_items", 3))
	logger.Error(droppedMessage, zap.Error(fmt.Errorf("queue: %w", &abandonedError{cause: errDrainTimedOut})))
	logger.Error(droppedMessage, zap.Error(errors.New("no more retries left: 503")), zap.Int("dropped_items", 4))
	logger.Info("Exporting failed. Will retry the request after interval.")
	logger.Debug(droppedMessage, zap.Error(errors.New("below the level")))
	entries := logs.All()
	if assert.Len(t, entries, 2) {
		assert.Equal(t, droppedMessage, entries[0].Message)
		assert.Equal(t, int64(4), entries[0].ContextMap()["dropped_items"])
		assert.Equal(t, "tempo", entries[0].ContextMap()["destination"])
		assert.Equal(t, "Exporting failed. Will retry the request after interval.", entries[1].Message)
	}
}
