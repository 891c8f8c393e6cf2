package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// defaultReadBodyTimeout bounds how long a request's body may take to
// arrive once its headers have. A producer on the same host writes a body
// of the default 20 MiB limit within milliseconds; 10 s, like
// read_header_timeout, still covers one descheduled by CPU throttling or a
// long GC pause, while a connection that announces a body and stalls holds
// its slot at most that long.
const defaultReadBodyTimeout = 10 * time.Second

// validateReadBodyTimeout checks read_body_timeout.
func (cfg *Config) validateReadBodyTimeout() error {
	if cfg.ReadBodyTimeout < 0 {
		return fmt.Errorf("read_body_timeout: must not be negative (0: no timeout), got %s", cfg.ReadBodyTimeout)
	}
	return nil
}

// bodyClock bounds the time a request's body takes to arrive: from when
// its headers were read, read_body_timeout, not counting the time the
// request waits for room in flight (admission), which the clock is told
// of. It sets the connection's read deadline, so a read that would pass
// it fails, whoever reads: confighttp's decompressors as well as the
// handler. Once the body is read, the deadline goes back to what
// net/http keeps (read_timeout's, or none), so a request that takes long
// in the pipeline is not cut by it.
//
// read_timeout, when set, still bounds the whole request: the body's
// deadline is never later than the arrival plus read_timeout.
type bodyClock struct {
	rc *http.ResponseController
	// after is the read deadline once the body is read: arrival plus
	// read_timeout, or none.
	after time.Time

	mu       sync.Mutex
	deadline time.Time // arrival, plus read_body_timeout, plus the waits
	stopped  bool

	timedOut atomic.Bool // a read of the body passed the deadline
}

// startBodyClock starts the clock of a request that arrived at now; nil
// (nothing enforced beyond net/http's own read_timeout) when
// read_body_timeout is 0 or the connection cannot take a deadline.
func (r *udsReceiver) startBodyClock(w http.ResponseWriter, now time.Time) *bodyClock {
	if r.cfg.ReadBodyTimeout <= 0 {
		return nil
	}
	c := &bodyClock{rc: http.NewResponseController(w), deadline: now.Add(r.cfg.ReadBodyTimeout)}
	if rt := r.cfg.ServerConfig.ReadTimeout; rt > 0 {
		c.after = now.Add(rt)
	}
	if c.rc.SetReadDeadline(c.capped()) != nil {
		return nil
	}
	return c
}

// capped is the deadline to set: never past read_timeout's.
func (c *bodyClock) capped() time.Time {
	if !c.after.IsZero() && c.after.Before(c.deadline) {
		return c.after
	}
	return c.deadline
}

// pushBack moves the deadline by d, the time the request waited for room
// in flight.
func (c *bodyClock) pushBack(d time.Duration) {
	if c == nil || d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.deadline = c.deadline.Add(d)
	_ = c.rc.SetReadDeadline(c.capped())
}

// stop ends the clock once the body is read whole.
func (c *bodyClock) stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		_ = c.rc.SetReadDeadline(c.after)
	}
}

// expired says whether a read of the body passed the deadline.
func (c *bodyClock) expired() bool {
	return c != nil && c.timedOut.Load()
}

// clockedBody is a request body as it comes off the connection, watched
// for reads that pass the body's deadline, whichever layer makes them.
type clockedBody struct {
	io.ReadCloser
	clock *bodyClock
}

func (b clockedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.clock.timedOut.Store(true)
	}
	return n, err
}

// writeBodyTimeout answers a request whose body did not arrive in time:
// 408, and the connection closed (what is left of the body may still be
// on its way), counted in otlpuds.bodies_timed_out.
func (r *udsReceiver) writeBodyTimeout(w http.ResponseWriter, enc encoding) {
	// The request's context ended with the failed read.
	r.telemetry.OtlpudsBodiesTimedOut.Add(context.Background(), 1)
	w.Header().Set("Connection", "close")
	writeCodeMessage(w, enc, http.StatusRequestTimeout,
		fmt.Sprintf("request body not received within read_body_timeout (%s)", r.cfg.ReadBodyTimeout))
}

// stopClock ends the body's clock: the body is read whole.
func (t *ticket) stopClock() {
	if t != nil {
		t.clock.stop()
	}
}

// bodyTimedOut says whether a read of the request's body passed
// read_body_timeout.
func (t *ticket) bodyTimedOut() bool {
	return t != nil && t.clock.expired()
}
