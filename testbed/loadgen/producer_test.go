package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// foundationsHeader is the trace config of foundations' own tests.
const foundationsHeader = `{"zoneId":12345,"accountId":42}`

func foundationsRouting() *Routing {
	return &Routing{Configs: []TraceConfig{{Account: "42", Zone: "12345", Encoding: EncodingJSONNumbers, RoutedTo: []string{"main"}}}}
}

// producerServer serves OTLP/HTTP on a Unix socket and checks every request
// has foundations' shape; answer decides each answer's status (by the
// request's number, from 1).
type producerServer struct {
	t        *testing.T
	sock     string
	answer   func(n int64) int
	delay    time.Duration
	conns    atomic.Int64 // connections opened
	requests atomic.Int64
	spans    atomic.Int64 // spans answered 200
	inFlight atomic.Int64
	maxIn    atomic.Int64
	mu       sync.Mutex
	ids      map[[8]byte]int // span ID -> times received
}

func newProducerServer(t *testing.T, answer func(n int64) int, delay time.Duration) *producerServer {
	t.Helper()
	s := &producerServer{t: t, answer: answer, delay: delay, ids: map[[8]byte]int{}}
	s.sock = filepath.Join(t.TempDir(), "otlp.sock")
	ln, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *producerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	in := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxIn.Load()
		if in <= m || s.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	t := s.t
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Host != "localhost" ||
		r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Content-Encoding") != "" {
		t.Errorf("request %s %s host %q, content type %q, encoding %q", r.Method, r.URL.Path, r.Host,
			r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"))
	}
	if h := r.Header.Get(DefaultHeader); h != foundationsHeader {
		t.Errorf("trace config %q, want %q", h, foundationsHeader)
	}
	body, _ := io.ReadAll(r.Body)
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Errorf("body does not decode: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	td := req.Traces()
	if td.SpanCount() > DefaultProducerSpansPerRequest {
		t.Errorf("request of %d spans", td.SpanCount())
	}
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		name, _ := attrs.Get("service.name")
		version, _ := attrs.Get("service.version")
		if attrs.Len() != 2 || name.Str() != DefaultServiceName || version.Str() != DefaultServiceVersion {
			t.Errorf("resource %v, want service.name and service.version only", attrs.AsRaw())
		}
		if rs.ScopeSpans().Len() != 1 || rs.ScopeSpans().At(0).Spans().Len() != 1 {
			t.Fatalf("resource %d holds %d scopes, want one span in one scope", i, rs.ScopeSpans().Len())
		}
		ss := rs.ScopeSpans().At(0)
		if ss.Scope().Name() != "" {
			t.Errorf("scope %q, foundations sends none", ss.Scope().Name())
		}
		sp := ss.Spans().At(0)
		if sp.Flags() != 1 || sp.Attributes().Len() == 0 {
			t.Errorf("span flags %d, %d attributes", sp.Flags(), sp.Attributes().Len())
		}
		s.mu.Lock()
		s.ids[sp.SpanID()]++
		s.mu.Unlock()
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	st := s.answer(n)
	if st == http.StatusOK {
		s.spans.Add(int64(td.SpanCount()))
	} else {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(st)
}

// TestProducerMode: foundations' shape on the wire, a new connection per
// request, at most one request in flight per producer, never a retry (a
// refused request, Retry-After and all, is never sent again, its spans
// counted refused), and the spans add up.
func TestProducerMode(t *testing.T) {
	// Every third request refused, with Retry-After.
	s := newProducerServer(t, func(n int64) int {
		if n%3 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, 60*time.Millisecond) // slower than a request every 25.6 ms: a backlog forms
	g, err := New(Config{Endpoint: s.sock, Mode: ModeProducer, Rate: 20_000, Duration: 500 * time.Millisecond,
		Span: SpanShape{Attributes: 2, AttributeSize: 8}, Producer: ProducerConfig{Producers: 3}, Routing: foundationsRouting()})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	// 20,000 spans/s for 0.5 s: 10,000 spans, 19 whole requests of 512.
	if want := int64(19 * 512); st.SpansOffered != want {
		t.Errorf("offered %d spans, want %d", st.SpansOffered, want)
	}
	if st.SpansQueueFull != 0 || st.SpansUnsent != 0 || st.SpansSent != st.SpansOffered || st.SpansUnoffered != 0 {
		t.Errorf("offered %d, sent %d, queue full %d, unsent %d, unoffered %d", st.SpansOffered, st.SpansSent, st.SpansQueueFull, st.SpansUnsent, st.SpansUnoffered)
	}
	if s.requests.Load() != st.Requests || st.Attempts != st.Requests || st.Retries != 0 {
		t.Errorf("server saw %d requests, generator made %d in %d attempts (%d retries): nothing may be retried",
			s.requests.Load(), st.Requests, st.Attempts, st.Retries)
	}
	if s.conns.Load() != s.requests.Load() {
		t.Errorf("%d connections for %d requests, want one each", s.conns.Load(), s.requests.Load())
	}
	// With a backlog every producer is busy, each with one request.
	if m := s.maxIn.Load(); m != 3 {
		t.Errorf("at most %d requests in flight, want one per producer (3)", m)
	}
	refused := (st.Requests / 3) * 512
	if st.SpansRefused != refused || st.SpansAccepted != st.SpansSent-refused || st.SpansFailed != refused || st.SpansNoAnswer != 0 {
		t.Errorf("accepted %d, refused %d, failed %d, no answer %d; want refused %d", st.SpansAccepted, st.SpansRefused, st.SpansFailed, st.SpansNoAnswer, refused)
	}
	if st.RetryAfterSeen != st.Requests/3 || st.Throttled != st.Requests/3 {
		t.Errorf("throttled %d, with Retry-After %d, want %d", st.Throttled, st.RetryAfterSeen, st.Requests/3)
	}
	if s.spans.Load() != st.SpansAccepted || st.ByDestination["main"] != st.SpansAccepted {
		t.Errorf("server took %d, generator counts %d accepted (%v by destination)", s.spans.Load(), st.SpansAccepted, st.ByDestination)
	}
	for id, n := range s.ids {
		if n != 1 {
			t.Fatalf("span %x received %d times", id, n)
		}
	}
	if st.AnswerMs == nil || st.AnswerMs.Count != int(st.Requests) || st.AnswerMs.P50 < 60 {
		t.Errorf("answer times %+v, want %d answers of at least 60 ms", st.AnswerMs, st.Requests)
	}
}

// TestProducerQueue: a server slower than the application fills the
// queue, whose overflow is dropped at the producer; what is still queued at
// the end of the drain is unsent; both count as unoffered, not sent.
func TestProducerQueue(t *testing.T) {
	s := newProducerServer(t, func(int64) int { return http.StatusOK }, 150*time.Millisecond)
	g, err := New(Config{Endpoint: s.sock, Mode: ModeProducer, Rate: 20_000, Duration: 500 * time.Millisecond,
		DrainTimeout: 200 * time.Millisecond, SpansPerRequest: 100, Span: SpanShape{Attributes: 1, AttributeSize: 4},
		Producer: ProducerConfig{Producers: 1, QueueSpans: 1000}, Routing: foundationsRouting()})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	if st.SpansOffered != 10_000-100 && st.SpansOffered != 10_000 {
		t.Errorf("offered %d", st.SpansOffered)
	}
	if st.SpansQueueFull == 0 || st.SpansUnsent == 0 {
		t.Errorf("queue full %d, unsent %d: want both", st.SpansQueueFull, st.SpansUnsent)
	}
	if st.QueuePeakSpans > 1000 {
		t.Errorf("queue held %d spans, bound 1000", st.QueuePeakSpans)
	}
	if st.SpansSent+st.SpansUnoffered != st.SpansOffered || st.SpansUnoffered != st.SpansQueueFull+st.SpansUnsent {
		t.Errorf("sent %d + unoffered %d != offered %d", st.SpansSent, st.SpansUnoffered, st.SpansOffered)
	}
	// The last request may be cut by the end of the drain: no answer.
	if st.SpansAccepted+st.SpansNoAnswer != st.SpansSent || s.spans.Load() < st.SpansAccepted {
		t.Errorf("sent %d, accepted %d, no answer %d; server took %d", st.SpansSent, st.SpansAccepted, st.SpansNoAnswer, s.spans.Load())
	}
}

func TestScheduleWithPhases(t *testing.T) {
	cfg := Config{Endpoint: "/x", Mode: ModeProducer, Duration: 10 * time.Second, SpansPerRequest: 500,
		Producer: ProducerConfig{Phases: []Phase{{Rate: 3000, Duration: time.Second}, {Rate: 0, Duration: time.Second}, {Rate: 1000, Duration: 2 * time.Second}}}}
	if err := cfg.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	s := newSchedule(&cfg)
	for _, c := range []struct {
		at    time.Duration
		spans float64
	}{{0, 0}, {500 * time.Millisecond, 1500}, {time.Second, 3000}, {1500 * time.Millisecond, 3000}, {3 * time.Second, 4000}, {4 * time.Second, 5000}, {5 * time.Second, 8000}, {10 * time.Second, 13000}} {
		if got := s.spansBy(c.at); got != c.spans {
			t.Errorf("spans by %s = %.0f, want %.0f", c.at, got, c.spans)
		}
		if c.at == 1500*time.Millisecond || c.at == 10*time.Second {
			continue // in a pause: the count was reached at its start
		}
		if got, ok := s.timeOf(c.spans); !ok || (got-c.at).Abs() > time.Microsecond {
			t.Errorf("time of %.0f spans = %s, want %s", c.spans, got, c.at)
		}
	}
	if got := s.timeOf; true {
		if at, _ := got(3500); at != 2500*time.Millisecond {
			t.Errorf("time of 3500 = %s, want 2.5s (after the pause)", at)
		}
	}
	// 13,000 spans in 10 s, the last of them at 9 s: 26 requests of 500.
	if got := producerSpans(&cfg, 0); got != 26*500 {
		t.Errorf("producer spans %d, want %d", got, 26*500)
	}
	// 1,000 spans/s for 1 s in requests of 100: the 10th is due at 1 s
	// exactly, not within the run.
	flat := Config{Endpoint: "/x", Mode: ModeProducer, Rate: 1000, Duration: time.Second, SpansPerRequest: 100}
	if err := flat.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	if got := producerSpans(&flat, 0); got != 900 {
		t.Errorf("producer spans %d, want 900", got)
	}
	if _, ok := newSchedule(&Config{Producer: ProducerConfig{Phases: []Phase{{Rate: 0, Duration: time.Second}}}}).timeOf(1); ok {
		t.Error("a schedule that never produces gave a time")
	}
}

func TestProducerConfigChecks(t *testing.T) {
	for name, c := range map[string]Config{
		"no rate":      {Endpoint: "/x", Duration: time.Second, Mode: ModeProducer},
		"both rates":   {Endpoint: "/x", Duration: time.Second, Mode: ModeProducer, Rate: 1, Producer: ProducerConfig{Phases: []Phase{{Rate: 1, Duration: time.Second}}}},
		"json":         {Endpoint: "/x", Duration: time.Second, Mode: ModeProducer, Rate: 1, JSON: true},
		"identity":     {Endpoint: "/x", Duration: time.Second, Mode: ModeProducer, Rate: 1, Identity: &Identity{Component: "c"}},
		"bad phase":    {Endpoint: "/x", Duration: time.Second, Mode: ModeProducer, Producer: ProducerConfig{Phases: []Phase{{Rate: 1}}}},
		"unknown mode": {Endpoint: "/x", Duration: time.Second, Mode: "batchy", Rate: 1},
	} {
		if err := c.applyDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Endpoint: "/x", Duration: time.Second, Mode: ModeProducer, Rate: 1}
	if err := c.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.SpansPerRequest != 512 || c.Workers != DefaultProducers || !c.Retry.Disabled || c.RequestTimeout != DefaultProducerTimeout || c.Producer.QueueSpans != 1_000_000 {
		t.Errorf("defaults: %+v", c)
	}
}
