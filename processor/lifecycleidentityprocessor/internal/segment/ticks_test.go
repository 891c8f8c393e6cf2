package segment

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wrap is the time after which a slot's 32-bit instants repeat.
const wrap = (1 << 32) * tick

// TestPauseOfWrapIsIdle: after a pause of exactly 2^32 ms a trace's last
// arrival reads as now again; it is dropped anyway, from the pause.
func TestPauseOfWrapIsIdle(t *testing.T) {
	cfg := testConfig(2000)
	cfg.IdleTimeout = MaxDuration
	e := New(cfg, epoch)
	e.Begin(epoch)
	e.Assign(tid(1), 1, 0, 0)
	e.Begin(epoch.Add(wrap))
	assert.Zero(t, e.Tracked())
	assert.Equal(t, int64(1), e.TakeStats().Evicted[ReasonIdle])
}

// TestSegmentAgeOutlivesWrap: a segment kept open past 2^32 ms by late
// parents alone (they join the segment that named them, never opening a
// new one) still closes at the next span, though its 32-bit opening instant
// has wrapped meanwhile.
func TestSegmentAgeOutlivesWrap(t *testing.T) {
	cfg := testConfig(2000)
	cfg.MaxAge, cfg.IdleTimeout = MaxDuration, MaxDuration
	e := New(cfg, epoch)
	e.Begin(epoch)
	tr := tid(1)
	for c := uint64(1); c <= 3; c++ {
		e.Assign(tr, 10+c, c, 0) // children first, naming parents 1-3
	}
	step := 20 * 24 * time.Hour // under idle_timeout: the trace stays tracked
	now := epoch
	for p := uint64(1); p <= 3; p++ {
		now = now.Add(step)
		e.Begin(now)
		require.Zero(t, e.Assign(tr, p, 0, 0).Segment, "late parent %d joins segment 0", p)
	}
	require.Greater(t, now.Sub(epoch), wrap)
	assert.Equal(t, uint64(1), e.Assign(tr, 20, 0, 0).Segment, "segment 0 is 60 days old: the next span opens segment 1")
	assert.Equal(t, 1, e.Tracked())
}

// TestTicksRoundUp: durations count in whole milliseconds, rounded up, so a
// positive one is never 0.
func TestTicksRoundUp(t *testing.T) {
	assert.Equal(t, int64(1), ticks(time.Nanosecond))
	assert.Equal(t, int64(1), ticks(time.Millisecond))
	assert.Equal(t, int64(2), ticks(time.Millisecond+1))
	assert.Equal(t, int64(600_000), ticks(10*time.Minute))
	assert.Less(t, 2*ticks(MaxDuration), int64(1)<<32, "max_age + idle_timeout stay under the wrap")
}
