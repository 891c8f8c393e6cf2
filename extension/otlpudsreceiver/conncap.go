package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

const (
	// defaultReadHeaderTimeout bounds how long a connection may take to
	// send its request headers. A producer on the same host writes them in
	// one go, within microseconds; 10 s still covers a producer descheduled
	// under CPU throttling or a long GC pause, while a connection that sends
	// half its headers and stalls (slowloris) holds its slot, and its
	// descriptor, a sixth of confighttp's one minute.
	defaultReadHeaderTimeout = 10 * time.Second

	// defaultMaxConnections caps the connections open at once. The producer
	// served first opens a new connection for each request and sends the
	// next batch after the answer, so a process holds a few connections at
	// most; 1024 leaves room for a node full of such processes (Kubernetes
	// runs at most 110 pods per node by default) and stays far below the
	// descriptor limit Go raises itself to at start (the hard limit,
	// typically 524288 under systemd and 1048576 in containers).
	defaultMaxConnections = 1024

	// defaultMaxConnectionsPerUID caps the connections of one peer uid. A
	// quarter of the total: a single local user that opens connections
	// without end (or half-sends headers) leaves 768 slots to every other
	// user, while 256 still serves a hundred pods of the same image running
	// as the same uid (common: distroless nonroot images run as 65532) at two or
	// more connections each.
	defaultMaxConnectionsPerUID = 256

	// capWarnEvery is how often, at most, the receiver logs that a cap
	// closed connections.
	capWarnEvery = time.Minute
)

func (cfg *Config) validateConnectionCaps() error {
	if cfg.MaxConnections < 0 {
		return fmt.Errorf("max_connections: must not be negative (0: no cap), got %d", cfg.MaxConnections)
	}
	if cfg.MaxConnectionsPerUID < 0 {
		return fmt.Errorf("max_connections_per_uid: must not be negative (0: no cap), got %d", cfg.MaxConnectionsPerUID)
	}
	return nil
}

// capLimit names the cap that closed a connection (the "limit" attribute).
type capLimit int

const (
	limitTotal capLimit = iota
	limitPerUID
)

func (l capLimit) String() string {
	if l == limitPerUID {
		return "max_connections_per_uid"
	}
	return "max_connections"
}

// unknownUID keys the connections whose peer the kernel could not name.
const unknownUID int64 = -1

// connLimiter counts the receiver's open connections, in total and by peer
// uid, across every listener the receiver serves on (a recreated socket
// gets a new listener; its connections count with the old ones).
//
// Idle state comes from http.Server's ConnState hook: confighttp's ToServer
// returns a plain *http.Server without a ConnState of its own, so the
// receiver sets it. That is exact (StateIdle is set after a response was
// written and before the next request is read) where guessing idleness
// from read activity at the listener would not be.
type connLimiter struct {
	maxTotal  int
	maxPerUID int
	readUID   bool // per-uid cap on and SO_PEERCRED available

	tb     *metadata.TelemetryBuilder
	logger *zap.Logger
	attrs  [2]metric.MeasurementOption

	mu     sync.Mutex
	total  int
	perUID map[int64]int
	idle   *list.List // of *capConn, longest idle first

	lastWarn atomic.Int64 // unix nanoseconds of the last cap warning
}

func newConnLimiter(cfg *Config, tb *metadata.TelemetryBuilder, logger *zap.Logger) *connLimiter {
	l := &connLimiter{
		maxTotal:  cfg.MaxConnections,
		maxPerUID: cfg.MaxConnectionsPerUID,
		tb:        tb,
		logger:    logger,
		perUID:    map[int64]int{},
		idle:      list.New(),
	}
	tb.OtlpudsConnectionsOpen.Add(context.Background(), 0) // reads 0 before the first connection
	if l.maxTotal > 0 && l.maxPerUID > l.maxTotal {
		l.maxPerUID = l.maxTotal
	}
	if !peerCredSupported {
		// Every peer would fall in one "unknown" bucket, making the
		// per-uid cap a smaller total cap.
		l.maxPerUID = 0
	}
	l.readUID = l.maxPerUID > 0
	for _, lim := range []capLimit{limitTotal, limitPerUID} {
		l.attrs[lim] = metric.WithAttributeSet(attribute.NewSet(attribute.String("limit", lim.String())))
	}
	return l
}

// serve serves on ln, within the connection caps, until the server shuts
// down or the listener is retired.
func (r *udsReceiver) serve(host component.Host, ln *net.UnixListener) *capListener {
	cl := r.limiter.wrap(ln)
	r.serveErr.Go(func() {
		err := r.server.Serve(cl)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !cl.retired.Load() {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return cl
}

// capListener is one listener of the receiver, wrapped so that every
// accepted connection passes the caps.
type capListener struct {
	*net.UnixListener
	lim *connLimiter
	// retired is set when the socket watch replaces this listener with a
	// new one: the accept error that follows is expected.
	retired atomic.Bool
}

func (l *connLimiter) wrap(ln *net.UnixListener) *capListener {
	return &capListener{UnixListener: ln, lim: l}
}

// retire closes a listener that is no longer the receiver's socket.
// Connections it accepted go on.
func (cl *capListener) retire() {
	cl.retired.Store(true)
	_ = cl.UnixListener.Close()
}

// Accept returns the next connection within the caps; one over a cap is
// closed at once, counted, and never returned.
func (cl *capListener) Accept() (net.Conn, error) {
	for {
		c, err := cl.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if cc := cl.lim.admit(c); cc != nil {
			return cc, nil
		}
	}
}

// capConn is an admitted connection. Embedding *net.UnixConn keeps its
// SyscallConn (SO_PEERCRED) and CloseWrite (used by http.Server on close).
type capConn struct {
	*net.UnixConn
	lim  *connLimiter
	uid  int64
	cred *peerCred // read at accept when the per-uid cap is on

	closeOnce sync.Once

	// Guarded by lim.mu.
	released bool
	idleElem *list.Element
}

// Close frees the connection's slot, once.
func (c *capConn) Close() error {
	c.closeOnce.Do(func() { c.lim.release(c) })
	return c.UnixConn.Close()
}

// admit decides on a new connection: within the caps it is counted and
// returned; at a cap the longest idle keep-alive connection that counts
// against that cap (any for the total, the same uid's for the per-uid cap)
// is closed to make room; with none, the new connection is closed.
func (l *connLimiter) admit(c *net.UnixConn) *capConn {
	cc := &capConn{UnixConn: c, lim: l, uid: unknownUID}
	if l.readUID {
		cc.cred = readPeerCred(c)
		if cc.cred.err == nil {
			cc.uid = int64(cc.cred.uid)
		}
	}
	evict, refused, hit := l.reserve(cc)
	// Counted before closing, so that whoever sees the close sees the count.
	if refused {
		l.tb.OtlpudsConnectionsRefused.Add(context.Background(), 1, l.attrs[hit])
		l.warnCap(hit, cc.uid)
		_ = c.Close()
		return nil
	}
	l.tb.OtlpudsConnectionsOpen.Add(context.Background(), 1)
	if evict != nil {
		l.tb.OtlpudsConnectionsOpen.Add(context.Background(), -1)
		l.tb.OtlpudsConnectionsIdleClosed.Add(context.Background(), 1, l.attrs[hit])
		_ = evict.UnixConn.Close()
	}
	return cc
}

// reserve takes a slot for cc, releasing an idle connection to make room
// if needed (returned, to be closed outside the lock).
func (l *connLimiter) reserve(cc *capConn) (evict *capConn, refused bool, hit capLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.maxPerUID > 0 && l.perUID[cc.uid] >= l.maxPerUID:
		hit = limitPerUID
		evict = l.oldestIdle(func(x *capConn) bool { return x.uid == cc.uid })
	case l.maxTotal > 0 && l.total >= l.maxTotal:
		hit = limitTotal
		evict = l.oldestIdle(nil)
	default:
		l.count(cc)
		return nil, false, 0
	}
	if evict == nil {
		return nil, true, hit
	}
	l.releaseLocked(evict)
	l.count(cc)
	return evict, false, hit
}

func (l *connLimiter) count(cc *capConn) {
	l.total++
	l.perUID[cc.uid]++
}

// oldestIdle is the connection idle the longest that match accepts (any
// if nil).
func (l *connLimiter) oldestIdle(match func(*capConn) bool) *capConn {
	for e := l.idle.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*capConn); match == nil || match(c) {
			return c
		}
	}
	return nil
}

func (l *connLimiter) release(c *capConn) {
	l.mu.Lock()
	released := c.released
	l.releaseLocked(c)
	l.mu.Unlock()
	if !released {
		l.tb.OtlpudsConnectionsOpen.Add(context.Background(), -1)
	}
}

func (l *connLimiter) releaseLocked(c *capConn) {
	if c.released {
		return
	}
	c.released = true
	l.setIdleLocked(c, false)
	l.total--
	if n := l.perUID[c.uid] - 1; n > 0 {
		l.perUID[c.uid] = n
	} else {
		delete(l.perUID, c.uid)
	}
}

func (l *connLimiter) setIdleLocked(c *capConn, idle bool) {
	switch {
	case idle && c.idleElem == nil && !c.released:
		c.idleElem = l.idle.PushBack(c)
	case !idle && c.idleElem != nil:
		l.idle.Remove(c.idleElem)
		c.idleElem = nil
	}
}

// hook sets the limiter's ConnState hook on srv, after any hook srv
// already has (confighttp sets none today).
func (l *connLimiter) hook(srv *http.Server) {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if prev != nil {
			prev(c, state)
		}
		l.connState(c, state)
	}
}

// connState is the http.Server ConnState hook: it tracks which
// connections are idle keep-alive connections, the first to go at a cap.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	cc, ok := c.(*capConn)
	if !ok {
		return
	}
	l.mu.Lock()
	l.setIdleLocked(cc, state == http.StateIdle)
	l.mu.Unlock()
}

// warnCap logs that a cap closed a connection, at most once per
// capWarnEvery; the count is in otlpuds_connections_refused.
func (l *connLimiter) warnCap(hit capLimit, uid int64) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if last != 0 && now-last < int64(capWarnEvery) {
		return
	}
	if !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	fields := []zap.Field{zap.String("limit", hit.String()), zap.Int("max_connections", l.maxTotal), zap.Int("max_connections_per_uid", l.maxPerUID)}
	if uid != unknownUID {
		fields = append(fields, zap.Int64("peer_uid", uid))
	}
	l.logger.Warn("Connection cap reached: new connections are closed at once (counted in otlpuds_connections_refused; logged at most once a minute)", fields...)
}

// openCounts reports the open connections, in total and of uid, and how
// many are idle (for tests).
func (l *connLimiter) openCounts(uid int64) (total, ofUID, idle int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perUID[uid], l.idle.Len()
}
