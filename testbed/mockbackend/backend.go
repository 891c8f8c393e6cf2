// Package mockbackend is an OTLP/HTTP trace backend for the testbed: a real
// listener on 127.0.0.1 that decodes protobuf and JSON requests (gzip, zstd,
// deflate or plain), counts spans in total, per trace and per resource
// attribute, optionally records every span for invariant checks or hands
// each request's traces to a hook, and can be told to fail with a status
// code, to answer slowly, or to take no more than so many spans per second.
package mockbackend

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/internal/oracle"
)

// Options configure a backend.
type Options struct {
	// Name labels the backend in reports (a destination name, say).
	Name string
	// Record keeps an oracle.Span for every span received (memory grows with
	// the spans: use it for bounded loads).
	Record bool
	// CountTraces counts spans per trace ID.
	CountTraces bool
	// CountAttributes names resource attributes whose values are counted
	// (spans per attribute and value).
	CountAttributes []string
	// OnTraces, when set, is called with the traces of each request the
	// backend accepts (decoded and decompressed; not those it refuses or
	// cannot decode), before its spans are counted: once Spans reports a
	// span, OnTraces has returned for it. Requests are served concurrently,
	// so OnTraces must be safe for concurrent use; it must not keep or
	// change td after it returns.
	OnTraces func(td ptrace.Traces)
}

// perSpan reports whether the options need each span decoded (recorded,
// counted by trace or attribute, or handed to OnTraces), not only the spans
// counted.
func (o Options) perSpan() bool {
	return o.Record || o.CountTraces || len(o.CountAttributes) > 0 || o.OnTraces != nil
}

// Backend is a running mock OTLP/HTTP backend.
type Backend struct {
	opts Options
	// URL is the base URL, for an otlphttp exporter's endpoint.
	URL string
	srv *http.Server
	ln  net.Listener

	spans, requests, badRequests atomic.Int64
	refused                      atomic.Int64 // requests answered with failStatus
	failStatus                   atomic.Int32
	retryAfter                   atomic.Int32 // seconds, with failStatus
	delay                        atomic.Int64 // ns per request
	capacity                     atomic.Int64 // spans/s; 0: unbounded

	capMu   sync.Mutex
	capNext time.Time // when the spans taken so far are through

	mu          sync.Mutex
	traceCounts map[pcommon.TraceID]int
	attrCounts  map[string]map[string]int64
	records     []oracle.Span
}

// Start listens on a free port of 127.0.0.1 and serves until Close.
func Start(opts Options) (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{
		opts:       opts,
		URL:        "http://" + ln.Addr().String(),
		ln:         ln,
		attrCounts: map[string]map[string]int64{},
	}
	if opts.CountTraces {
		b.traceCounts = map[pcommon.TraceID]int{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", b.handleTraces)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.opts.Name }

// Close stops the backend; requests in flight are abandoned.
func (b *Backend) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return b.srv.Close()
	}
	return err
}

// Fail makes every following request answer status (503, say), with a
// Retry-After of retryAfterSeconds when positive. Fail(0, 0) heals.
func (b *Backend) Fail(status, retryAfterSeconds int) {
	b.retryAfter.Store(int32(retryAfterSeconds))
	b.failStatus.Store(int32(status))
}

// SetDelay makes every following request wait d before it is answered.
func (b *Backend) SetDelay(d time.Duration) { b.delay.Store(int64(d)) }

// SetCapacity makes the backend a destination that takes at most
// spansPerSecond spans per second: like a single server, it works through
// the requests in the order they arrive, each taking its spans /
// spansPerSecond, and answers each (and counts its spans) when its turn is
// through, so concurrent requests queue behind each other and a client
// sees slow answers, never refusals. A request whose client gives up
// before its answer is not counted (its turn is spent all the same).
// SetCapacity(0) removes the bound.
func (b *Backend) SetCapacity(spansPerSecond int) { b.capacity.Store(int64(spansPerSecond)) }

// throttle waits for the turn of a request of n spans under SetCapacity;
// false when the client went away first.
func (b *Backend) throttle(r *http.Request, n int64) bool {
	c := b.capacity.Load()
	if c <= 0 || n == 0 {
		return true
	}
	b.capMu.Lock()
	now := time.Now()
	if b.capNext.Before(now) {
		b.capNext = now
	}
	b.capNext = b.capNext.Add(time.Duration(float64(n) / float64(c) * float64(time.Second)))
	done := b.capNext
	b.capMu.Unlock()
	t := time.NewTimer(time.Until(done))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Spans is the number of spans accepted so far.
func (b *Backend) Spans() int64 { return b.spans.Load() }

// Requests is the number of requests accepted so far.
func (b *Backend) Requests() int64 { return b.requests.Load() }

// Refused is the number of requests answered with the failure status.
func (b *Backend) Refused() int64 { return b.refused.Load() }

// BadRequests is the number of requests that could not be decoded.
func (b *Backend) BadRequests() int64 { return b.badRequests.Load() }

// TraceCounts returns a copy of the spans per trace (CountTraces only).
func (b *Backend) TraceCounts() map[pcommon.TraceID]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[pcommon.TraceID]int, len(b.traceCounts))
	for k, v := range b.traceCounts {
		out[k] = v
	}
	return out
}

// AttributeCounts returns the spans per value of one of
// Options.CountAttributes; spans whose resource lacks it count under "".
func (b *Backend) AttributeCounts(attr string) map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int64, len(b.attrCounts[attr]))
	for k, v := range b.attrCounts[attr] {
		out[k] = v
	}
	return out
}

// Records returns the recorded spans (Record only). The slice is shared: do
// not change it.
func (b *Backend) Records() []oracle.Span {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records
}

func (b *Backend) handleTraces(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := readBody(r)
	if d := time.Duration(b.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if err != nil {
		b.badRequests.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if st := int(b.failStatus.Load()); st != 0 {
		b.refused.Add(1)
		if ra := b.retryAfter.Load(); ra > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ra)))
		}
		http.Error(w, "mock backend told to fail", st)
		return
	}
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	var td ptrace.Traces
	var n int64
	decoded := isJSON || b.opts.perSpan()
	if !decoded && !b.opts.perSpan() {
		// Counting only: walk the wire format instead of decoding.
		n, err = countSpansProto(body)
		if err != nil {
			b.badRequests.Add(1)
			http.Error(w, "cannot decode: "+err.Error(), http.StatusBadRequest)
			return
		}
	} else {
		req := ptraceotlp.NewExportRequest()
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			b.badRequests.Add(1)
			http.Error(w, "cannot decode: "+err.Error(), http.StatusBadRequest)
			return
		}
		td = req.Traces()
		n = int64(td.SpanCount())
	}
	if !b.throttle(r, n) {
		return
	}
	if !decoded {
		b.spans.Add(n)
		b.requests.Add(1)
	} else {
		b.count(td)
	}
	resp := ptraceotlp.NewExportResponse()
	var out []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		out, _ = resp.MarshalJSON()
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ = resp.MarshalProto()
	}
	_, _ = w.Write(out)
}

func (b *Backend) count(td ptrace.Traces) {
	if b.opts.OnTraces != nil {
		b.opts.OnTraces(td)
	}
	n := int64(td.SpanCount())
	if b.opts.perSpan() {
		b.mu.Lock()
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			rs := rss.At(i)
			for _, attr := range b.opts.CountAttributes {
				var val string
				if v, ok := rs.Resource().Attributes().Get(attr); ok {
					val = v.AsString()
				}
				if b.attrCounts[attr] == nil {
					b.attrCounts[attr] = map[string]int64{}
				}
				b.attrCounts[attr][val] += int64(countSpans(rs))
			}
			sss := rs.ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					sp := spans.At(k)
					if b.traceCounts != nil {
						b.traceCounts[sp.TraceID()]++
					}
					if b.opts.Record {
						b.records = append(b.records, oracle.FromSpan(sp, false))
					}
				}
			}
		}
		b.mu.Unlock()
	}
	b.spans.Add(n)
	b.requests.Add(1)
}

// readBody reads and decompresses a request body.
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	case "zlib", "deflate":
		// The collector's "deflate" is the zlib format.
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
	return io.ReadAll(rd)
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	for j := range rs.ScopeSpans().Len() {
		n += rs.ScopeSpans().At(j).Spans().Len()
	}
	return n
}
