package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func TestPlannerLifecycleRootArrivesLast(t *testing.T) {
	shape := TraceShape{SpansPerTrace: 4, Traces: 25, Lifecycle: LifecycleShape{Traces: 1, SpansPerTrace: 101, HandlerSpans: 3}}
	p := newPlanner(shape)
	if got := p.total(); got != 201 {
		t.Fatalf("total = %d, want 201", got)
	}
	buf := make([]spanSpec, 7)
	var all []spanSpec
	for {
		n := p.fill(buf)
		if n == 0 {
			break
		}
		all = append(all, buf[:n]...)
	}
	if len(all) != 201 {
		t.Fatalf("planned %d spans, want 201", len(all))
	}
	seen := map[[8]byte]bool{}
	parentSeen := map[[8]byte]bool{} // parents named before they arrive
	roots, lifetimes := 0, 0
	for i, s := range all {
		if seen[s.spanID] {
			t.Fatalf("span ID repeated at %d", i)
		}
		seen[s.spanID] = true
		if s.root {
			roots++
			if s.lifetime {
				lifetimes++
				if i != len(all)-1 {
					t.Errorf("lifecycle root sent at %d of %d, want last", i, len(all))
				}
			}
			continue
		}
		parentSeen[s.parentID] = true
		if seen[s.parentID] {
			t.Errorf("span %d: parent sent before its child", i)
		}
	}
	if roots != 26 || lifetimes != 1 {
		t.Errorf("roots = %d (lifecycle %d), want 26 (1)", roots, lifetimes)
	}
	for id := range parentSeen {
		if !seen[id] {
			t.Errorf("parent %x never sent", id)
		}
	}
}

// TestPlannerIDSeed: the same seed plans the same IDs, another seed
// others (even a neighbouring one: no span ID of one plan is in the
// other), and no seed (random) differs from run to run.
func TestPlannerIDSeed(t *testing.T) {
	shape := TraceShape{SpansPerTrace: 5, Traces: 20, Lifecycle: LifecycleShape{Traces: 1, SpansPerTrace: 50}}
	plan := func(seed uint64) []spanSpec {
		s := shape
		s.IDSeed = seed
		out := make([]spanSpec, 150)
		return out[:newPlanner(s).fill(out)]
	}
	a, b, other := plan(42), plan(42), plan(43)
	spans := map[[8]byte]bool{}
	for _, s := range a {
		spans[s.spanID] = true
	}
	for _, s := range other {
		if spans[s.spanID] {
			t.Fatalf("seeds 42 and 43 share span %x", s.spanID)
		}
	}
	if len(a) != 150 || len(b) != 150 {
		t.Fatalf("planned %d and %d spans, want 150", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("span %d differs between two plans of seed 42: %+v, %+v", i, a[i], b[i])
		}
		if a[i].traceID == other[i].traceID {
			t.Fatalf("span %d: seeds 42 and 43 share trace %x", i, a[i].traceID)
		}
	}
	if r1, r2 := plan(0), plan(0); r1[0].traceID == r2[0].traceID {
		t.Errorf("two unseeded plans share trace %x", r1[0].traceID)
	}
}

func TestPlannerUnboundedNeverDone(t *testing.T) {
	p := newPlanner(TraceShape{SpansPerTrace: 10})
	buf := make([]spanSpec, 1000)
	for range 10 {
		if n := p.fill(buf); n != len(buf) {
			t.Fatalf("fill = %d, want %d", n, len(buf))
		}
	}
	if p.done() || p.total() != 0 {
		t.Fatal("an unbounded plan must never be done")
	}
}

// TestRetryHonoursRetryAfter serves OTLP/HTTP on a Unix socket that refuses
// the first attempts with 503 and Retry-After: 1; the generator must wait and
// succeed, counting nothing as failed.
func TestRetryHonoursRetryAfter(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "otlp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	var spans atomic.Int64
	var firstRefusal, firstRetry atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n <= 2 {
			firstRefusal.CompareAndSwap(0, time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		firstRetry.CompareAndSwap(0, time.Now().UnixNano())
		req := ptraceotlp.NewExportRequest()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		if err := req.UnmarshalProto(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if v := r.Header.Get(DefaultHeader); v == "" {
			t.Error("trace config header missing")
		}
		spans.Add(int64(req.Traces().SpanCount()))
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	g, err := New(Config{
		Endpoint: sock, Rate: 1000, Duration: 200 * time.Millisecond, SpansPerRequest: 50, Workers: 1,
		Identity: &Identity{Component: "c", Revision: 1},
		Routing:  &Routing{Destinations: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	if st.SpansFailed != 0 || st.SpansAccepted != st.SpansSent || st.SpansSent == 0 {
		t.Fatalf("stats: %+v", st)
	}
	if spans.Load() != st.SpansSent {
		t.Errorf("server got %d spans, generator sent %d", spans.Load(), st.SpansSent)
	}
	if st.Throttled != 2 || st.RetryAfterSeen != 2 || st.Retries < 2 || st.SpansThrottled != 100 {
		t.Errorf("throttled %d (%d spans), retry-after %d, retries %d; want 2 (100), 2, >=2", st.Throttled, st.SpansThrottled, st.RetryAfterSeen, st.Retries)
	}
	if wait := time.Duration(firstRetry.Load() - firstRefusal.Load()); wait < 900*time.Millisecond {
		t.Errorf("retried after %s, want Retry-After's 1s", wait)
	}
	if st.ByDestination["a"]+st.ByDestination["b"] != st.SpansAccepted {
		t.Errorf("by destination %v, accepted %d", st.ByDestination, st.SpansAccepted)
	}
}

func TestParseRetryAfter(t *testing.T) {
	if d := parseRetryAfter("3"); d != 3*time.Second {
		t.Errorf("3 -> %s", d)
	}
	if d := parseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d < 59*time.Minute {
		t.Errorf("date -> %s", d)
	}
	if d := parseRetryAfter("soon"); d != 0 {
		t.Errorf("soon -> %s", d)
	}
}

// TestDirectEncodingMatchesPdata checks the direct protobuf encoder against
// pdata's: both decode to the same traces.
func TestDirectEncodingMatchesPdata(t *testing.T) {
	for _, id := range []*Identity{nil, {Component: "c", Solution: "s", Revision: 3, Processes: 2}} {
		cfg := Config{Endpoint: "/x", Duration: 1, Identity: id,
			Trace: TraceShape{SpansPerTrace: 3, Traces: 4, Lifecycle: LifecycleShape{Traces: 1, SpansPerTrace: 9}}}
		if err := cfg.applyDefaults(); err != nil {
			t.Fatal(err)
		}
		b := newPayloadBuilder(&cfg)
		specs := make([]spanSpec, 21)
		n := newPlanner(cfg.Trace).fill(specs)
		now := time.Now()
		direct := b.enc.encode(specs[:n], 1, b.started, now)
		cfg.JSON = false
		viaPdata, err := b.buildPdata(specs[:n], 1, now)
		if err != nil {
			t.Fatal(err)
		}
		r1, r2 := ptraceotlp.NewExportRequest(), ptraceotlp.NewExportRequest()
		if err := r1.UnmarshalProto(direct); err != nil {
			t.Fatalf("direct encoding does not decode: %v", err)
		}
		if err := r2.UnmarshalProto(viaPdata); err != nil {
			t.Fatal(err)
		}
		j1, _ := r1.MarshalJSON()
		j2, _ := r2.MarshalJSON()
		if string(j1) != string(j2) {
			t.Errorf("direct and pdata encodings differ:\n%s\n%s", j1, j2)
		}
	}
}

// TestStopsByItself runs the generator against a socket whose server never
// answers: Run must still return once Duration and DrainTimeout are over,
// counting every offered span as failed, and MaxRequests must bound what is
// offered.
func TestStopsByItself(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hang.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var calls atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		calls.Add(1)
		<-release
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer close(release)

	g, err := New(Config{
		Endpoint: sock, Rate: 0, Duration: 300 * time.Millisecond, DrainTimeout: 500 * time.Millisecond,
		RequestTimeout: time.Minute, SpansPerRequest: 10, Workers: 2, MaxRequests: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Stats, 1)
	go func() { done <- g.Run(context.Background()) }()
	var st Stats
	select {
	case st = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10s after its 300ms duration and 500ms drain")
	}
	if st.Requests > 5 || st.SpansAccepted != 0 || st.SpansFailed != st.SpansSent || st.SpansSent != 10*st.Requests {
		t.Errorf("stats: %+v", st)
	}
	if calls.Load() == 0 {
		t.Error("no request reached the server")
	}
}
