package destinationsexporter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadatatest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Drops are warned about at most once per reason per minute, each warning
// carrying the exact count of spans dropped for that reason since the one
// before; the unknown_destination warning names the destination, the
// unrouted one points at trace_routing.
func TestDropWarningsRateLimited(t *testing.T) {
	tempo := newBackend(t, http.StatusOK, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.Destinations = map[string]*otlphttpexporter.Config{"tempo": destinationConfig(tempo.srv.URL)}
	require.NoError(t, cfg.Validate())

	core, logs := observer.New(zap.InfoLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	start := time.Unix(1_000_000, 0)
	clock := &fakeClock{t: start}
	e, err := newDestinationsExporter(context.Background(), set, cfg, clock.now)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))

	// Ten batches every 100 ms over a minute and a millisecond: each drops
	// 2 spans for ghost-<step>, 1 more once per unknown name of a route that
	// also names tempo, and 3 unrouted.
	const steps, perStep = 601, 10
	var unknownTotal, unroutedTotal int64
	var sentToTempo int
	for step := range steps {
		clock.set(start.Add(time.Duration(step) * 100 * time.Millisecond))
		if step == steps-1 {
			clock.set(start.Add(time.Minute + time.Millisecond))
		}
		for k := range perStep {
			specs := []resourceSpec{
				{to: fmt.Sprintf("ghost-%d", step), spans: 2},
				{spans: 3},
			}
			unknownTotal += 2
			unroutedTotal += 3
			if k == 0 {
				specs = append(specs, resourceSpec{to: "tempo,phantom,ghost-x", spans: 1})
				unknownTotal += 2
				sentToTempo++
			}
			require.NoError(t, e.pushTraces(context.Background(), newTraces(specs...)))
		}
	}
	require.NoError(t, e.shutdown(context.Background()))
	assert.Equal(t, sentToTempo, tempo.spanCount(), "a partly unknown route still reaches its configured destination")

	warnings := logs.FilterLevelExact(zapcore.WarnLevel)
	unknown := warnings.FilterField(zap.String("reason", reasonUnknownDestination)).All()
	unrouted := warnings.FilterField(zap.String("reason", reasonUnrouted)).All()
	assert.Len(t, warnings.All(), len(unknown)+len(unrouted), "no other warning")

	// One warning at the first drop, one a minute later; the drops between
	// and after are counted but silent.
	require.Len(t, unknown, 2)
	require.Len(t, unrouted, 2)
	// A step's first batch drops 2 spans for ghost-<step> and 1 each for
	// phantom and ghost-x; its nine others 2 each.
	const firstBatch, perStepUnknown = 2 + 1 + 1, 2 + 1 + 1 + (perStep-1)*2
	assert.Equal(t, int64(firstBatch), unknown[0].ContextMap()["spans_since_last_warning"])
	assert.Equal(t, "ghost-0", unknown[0].ContextMap()["destination"])
	assert.Equal(t, int64(3), unrouted[0].ContextMap()["spans_since_last_warning"])
	// The second warning comes with the first batch of step 600 (one minute
	// in): everything from the first warning's batch up to it, exactly.
	const atMinute = 600
	assert.Equal(t, int64(atMinute*perStepUnknown), unknown[1].ContextMap()["spans_since_last_warning"])
	assert.Equal(t, fmt.Sprintf("ghost-%d", atMinute), unknown[1].ContextMap()["destination"])
	assert.Equal(t, int64((atMinute*perStep+1)*3-3), unrouted[1].ContextMap()["spans_since_last_warning"])

	assert.Contains(t, unknown[0].Message, "not a key of destinations")
	assert.Contains(t, unrouted[0].Message, "without the tracebound.route attribute")
	assert.Contains(t, unrouted[0].Message, "trace_routing processor must run in the same pipeline, before this exporter")

	// The metric counts every span, warned about or not.
	assert.Equal(t, unknownTotal, counter(t, tel, metricDropped, "reason", "unknown_destination"))
	assert.Equal(t, unroutedTotal, counter(t, tel, metricDropped, "reason", "unrouted"))
}

// A name longer than any valid one (the route was not written by
// trace_routing) is cut short in the warning.
func TestLogNameBounded(t *testing.T) {
	assert.Equal(t, "tempo", logName("tempo"))
	long := make([]byte, 10_000)
	for i := range long {
		long[i] = 'x'
	}
	got := logName(string(long))
	assert.Len(t, got, 128+len("..."))
}
