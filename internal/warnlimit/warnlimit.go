// Package warnlimit rate-limits the warnings a component logs about data it
// drops without telling the sender: at most one warning per kind per
// interval, each carrying how many events happened since the one before, so
// a steady stream of bad input costs one log line a minute, not one per span,
// and a fresh mistake still shows up within the interval.
package warnlimit // import "github.com/tracebound/tracebound/internal/warnlimit"

import (
	"sync"
	"time"
)

// DefaultInterval is the interval DESIGN.md asks for: one warning a minute.
const DefaultInterval = time.Minute

// Limiter decides, per kind, when the next warning may be logged. Kinds are
// a small, fixed set chosen by the caller (a drop reason), never input data,
// so its state stays bounded. Safe for concurrent use.
type Limiter struct {
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	kinds map[string]*kindState
}

type kindState struct {
	last    time.Time // when the last warning was allowed; zero before the first
	pending int64     // events noted since then, warned about or not
}

// New returns a Limiter allowing one warning per kind per interval, reading
// the time from now (time.Now in production, a test clock in tests).
func New(interval time.Duration, now func() time.Time) *Limiter {
	return &Limiter{interval: interval, now: now, kinds: make(map[string]*kindState)}
}

// Note records n events of kind. It reports whether a warning is due now and,
// if so, how many events happened since the previous warning (this call's n
// included); the count restarts from zero after a warning.
func (l *Limiter) Note(kind string, n int64) (warn bool, since int64) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.kinds[kind]
	if !ok {
		st = &kindState{}
		l.kinds[kind] = st
	}
	st.pending += n
	if !st.last.IsZero() && now.Sub(st.last) < l.interval {
		return false, 0
	}
	st.last = now
	since, st.pending = st.pending, 0
	return true, since
}
