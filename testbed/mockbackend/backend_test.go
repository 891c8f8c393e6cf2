package mockbackend

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func traces(account string, ids ...byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("trace_config.account", account)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, id := range ids {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{id})
	}
	return td
}

func post(t *testing.T, b *Backend, body []byte, ct, enc string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func gzipped(b []byte) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return gz.Bytes()
}

func TestBackendDecodesCountsAndFails(t *testing.T) {
	b, err := Start(Options{Name: "x", Record: true, CountTraces: true, CountAttributes: []string{"trace_config.account"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pb, _ := ptraceotlp.NewExportRequestFromTraces(traces("a", 1, 2)).MarshalProto()
	if st := post(t, b, gzipped(pb), "application/x-protobuf", "gzip"); st != 200 {
		t.Fatalf("gzip protobuf: %d", st)
	}
	js, _ := ptraceotlp.NewExportRequestFromTraces(traces("", 3)).MarshalJSON()
	if st := post(t, b, js, "application/json", ""); st != 200 {
		t.Fatalf("json: %d", st)
	}
	if st := post(t, b, []byte("garbage"), "application/x-protobuf", ""); st != 400 {
		t.Fatalf("garbage: %d", st)
	}
	b.Fail(503, 2)
	if st := post(t, b, pb, "application/x-protobuf", ""); st != 503 {
		t.Fatalf("failing: %d", st)
	}
	b.Fail(0, 0)
	b.SetDelay(200 * time.Millisecond)
	start := time.Now()
	if st := post(t, b, pb, "application/x-protobuf", ""); st != 200 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("slow: %d after %s", st, time.Since(start))
	}
	if b.Spans() != 5 || b.Requests() != 3 || b.Refused() != 1 || b.BadRequests() != 1 {
		t.Errorf("spans %d requests %d refused %d bad %d", b.Spans(), b.Requests(), b.Refused(), b.BadRequests())
	}
	if got := b.AttributeCounts("trace_config.account"); got["a"] != 4 || got[""] != 1 {
		t.Errorf("attribute counts %v", got)
	}
	if got := b.TraceCounts()[pcommon.TraceID{1}]; got != 5 {
		t.Errorf("trace count %d", got)
	}
	if len(b.Records()) != 5 {
		t.Errorf("records %d", len(b.Records()))
	}
}

// OnTraces alone (no recording or counting option) gets each accepted
// request decoded, whatever its encoding, and only accepted ones; its spans
// are counted after it returns.
func TestBackendOnTraces(t *testing.T) {
	var (
		mu    sync.Mutex
		calls int
		got   []byte // span IDs' first bytes, in arrival order
		b     *Backend
	)
	b, err := Start(Options{OnTraces: func(td ptrace.Traces) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if n := b.Spans(); n != int64(len(got)) {
			t.Errorf("spans counted before OnTraces returned: %d, want %d", n, len(got))
		}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					got = append(got, sp.SpanID()[0])
				}
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pb, _ := ptraceotlp.NewExportRequestFromTraces(traces("a", 1, 2)).MarshalProto()
	if st := post(t, b, gzipped(pb), "application/x-protobuf", "gzip"); st != 200 {
		t.Fatalf("gzip protobuf: %d", st)
	}
	pb3, _ := ptraceotlp.NewExportRequestFromTraces(traces("", 3)).MarshalProto()
	if st := post(t, b, pb3, "application/x-protobuf", ""); st != 200 {
		t.Fatalf("protobuf: %d", st)
	}
	js, _ := ptraceotlp.NewExportRequestFromTraces(traces("", 4)).MarshalJSON()
	if st := post(t, b, js, "application/json", ""); st != 200 {
		t.Fatalf("json: %d", st)
	}
	if st := post(t, b, []byte("garbage"), "application/x-protobuf", ""); st != 400 {
		t.Fatalf("garbage: %d", st)
	}
	b.Fail(503, 0)
	if st := post(t, b, pb, "application/x-protobuf", ""); st != 503 {
		t.Fatalf("failing: %d", st)
	}

	mu.Lock()
	defer mu.Unlock()
	if calls != 3 || !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("OnTraces called %d times with spans %v, want 3 times with [1 2 3 4]", calls, got)
	}
	if b.Spans() != 4 || b.Requests() != 3 {
		t.Errorf("spans %d requests %d", b.Spans(), b.Requests())
	}
}

func TestCountSpansProto(t *testing.T) {
	td := traces("a", 1, 2, 3)
	rs := td.ResourceSpans().AppendEmpty()
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().Attributes().PutStr("k", "v")
	rs.ScopeSpans().AppendEmpty()
	pb, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	n, err := countSpansProto(pb)
	if err != nil || n != 4 {
		t.Fatalf("count = %d, %v; want 4", n, err)
	}
	if _, err := countSpansProto(pb[:len(pb)-3]); err == nil {
		t.Error("a truncated body must fail")
	}
	b, err := Start(Options{Name: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := post(t, b, pb, "application/x-protobuf", ""); st != 200 || b.Spans() != 4 {
		t.Fatalf("status %d, spans %d", st, b.Spans())
	}
	if st := post(t, b, []byte{0xff, 0xff}, "application/x-protobuf", ""); st != 400 {
		t.Fatalf("garbage: %d", st)
	}
}

// SetCapacity makes concurrent requests queue behind each other: 4
// requests of 100 spans at 1,000 spans/s take 400 ms in all, the last
// answered no sooner, and each is counted only when answered.
func TestBackendCapacity(t *testing.T) {
	b, err := Start(Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetCapacity(1000)
	ids := make([]byte, 100)
	for i := range ids {
		ids[i] = byte(i + 1)
	}
	pb, _ := ptraceotlp.NewExportRequestFromTraces(traces("a", ids...)).MarshalProto()
	// Lower bounds only, which a busy machine can only make later: the
	// k-th answer to come back comes at least k turns of 100 ms after the
	// start (a backend that served the four at once would answer them all
	// within a few ms).
	start := time.Now()
	answered := make([]time.Duration, 4)
	var wg sync.WaitGroup
	for i := range answered {
		wg.Go(func() {
			if st := post(t, b, pb, "application/x-protobuf", ""); st != 200 {
				t.Errorf("status %d", st)
			}
			answered[i] = time.Since(start)
		})
	}
	wg.Wait()
	slices.Sort(answered)
	for k, at := range answered {
		if turn := time.Duration(k+1) * 100 * time.Millisecond; at < turn {
			t.Errorf("answer %d of 4 x 100 spans at 1,000 spans/s after %s, before its turn ended (%s)", k+1, at, turn)
		}
	}
	if b.Spans() != 400 {
		t.Errorf("spans %d", b.Spans())
	}
	// SetCapacity(0) lifts the bound: at 10 spans/s the request would wait
	// 10 s for its turn.
	b.SetCapacity(10)
	b.SetCapacity(0)
	start = time.Now()
	post(t, b, pb, "application/x-protobuf", "")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("unbounded backend took %s", took)
	}
}
