package mockbackend

import (
	"bytes"
	"compress/gzip"
	"net/http"
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

func rec(trace, span, parent byte) SpanRecord {
	r := SpanRecord{TraceID: pcommon.TraceID{trace}, SpanID: pcommon.SpanID{span}, SegmentIndex: -1}
	if parent != 0 {
		r.ParentID = pcommon.SpanID{parent}
	}
	return r
}

func TestAnalyze(t *testing.T) {
	// Input: trace 1 = root 10 with children 11..14. Output: segment 0
	// (trace 1) holds 10, 11, 12; segment 1 (trace 2) holds 13 re-rooted
	// with its link and 14 re-rooted without one.
	moved := func(r SpanRecord) SpanRecord {
		r.OriginTraceID = "01000000000000000000000000000000"
		r.SegmentIndex = 1
		return r
	}
	r13 := moved(rec(2, 13, 0))
	r13.Links = []Link{{TraceID: pcommon.TraceID{1}, SpanID: pcommon.SpanID{10}, Type: LinkTypeParent}}
	records := []SpanRecord{rec(1, 11, 10), rec(1, 12, 10), rec(1, 10, 0), r13, moved(rec(2, 14, 0)), rec(1, 12, 10)}
	// Sent: 11..14 (children of 10) first, the root 10 last.
	sent := sentFrom(map[byte]Sent{11: {Parent: [8]byte{10}, Order: 0}, 12: {Parent: [8]byte{10}, Order: 1},
		13: {Parent: [8]byte{10}, Order: 2}, 14: {Parent: [8]byte{10}, Order: 3}, 10: {Order: 4}})
	rep := Analyze(records, sent, 2)
	if rep.UniqueSpans != 5 || rep.Duplicates != 1 || rep.Traces != 2 || rep.MaxTraceSpans != 3 || rep.OverBound != 1 || rep.OverHardBound != 0 {
		t.Errorf("counts: %+v", rep)
	}
	if rep.Rerooted != 2 || rep.RerootedWithoutLink != 1 || rep.DanglingLinks != 0 || rep.LinkTraceMismatch != 0 {
		t.Errorf("re-rooting: %+v", rep)
	}
	// Trace 1 holds 11, 12 and then 10, their parent, sent after them.
	if rep.LateParents != 1 || rep.OverBoundNotLate != 0 {
		t.Errorf("late parents: %+v", rep)
	}
	if rep.BrokenParents != 0 || rep.MissingParents != 0 || rep.BadProvenance != 0 || rep.ParentChanged != 0 || rep.UnknownSpans != 0 {
		t.Errorf("trees: %+v", rep)
	}
	if rep.SplitTraces != 1 || rep.Segments != 2 || rep.Moved != 2 || rep.SegmentSize.Max != 3 || rep.SegmentSize.Min != 2 {
		t.Errorf("segments: %+v", rep)
	}
	// A child left in another trace than its parent is a broken tree.
	rep = Analyze([]SpanRecord{rec(1, 10, 0), rec(2, 11, 10)}, sent, 0)
	if rep.BrokenParents != 1 {
		t.Errorf("broken parents = %d, want 1", rep.BrokenParents)
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

func sentFrom(m map[byte]Sent) func([8]byte) (Sent, bool) {
	return func(id [8]byte) (Sent, bool) {
		if id[1] != 0 {
			return Sent{}, false
		}
		s, ok := m[id[0]]
		return s, ok
	}
}

// TestAnalyzeLinks: a re-rooted span's link must name its original parent
// (with the original trace ID) and carry lifecycle.link.type=parent.
func TestAnalyzeLinks(t *testing.T) {
	link := func(r SpanRecord, span byte, typ string) SpanRecord {
		r.Links = []Link{{TraceID: pcommon.TraceID{1}, SpanID: pcommon.SpanID{span}, Type: typ}}
		return r
	}
	records := []SpanRecord{
		rec(1, 10, 0),
		link(rec(2, 11, 0), 10, LinkTypeParent), // right
		link(rec(2, 12, 0), 9, LinkTypeParent),  // a parent link to another span
		link(rec(2, 13, 0), 10, ""),             // the right span, untyped
		rec(2, 14, 0),                           // no link
		rec(1, 15, 10),                          // sent with parent 9: changed
		rec(1, 9, 0),
		rec(1, 77, 0), // never sent
	}
	sent := sentFrom(map[byte]Sent{10: {}, 9: {}, 11: {Parent: [8]byte{10}}, 12: {Parent: [8]byte{10}},
		13: {Parent: [8]byte{10}}, 14: {Parent: [8]byte{10}}, 15: {Parent: [8]byte{9}}})
	rep := Analyze(records, sent, 0)
	if rep.Rerooted != 4 || rep.LinkWrongParent != 1 || rep.LinkWrongType != 1 || rep.RerootedWithoutLink != 1 ||
		rep.DanglingLinks != 0 || rep.LinkTraceMismatch != 0 {
		t.Errorf("links: %+v", rep)
	}
	if rep.ParentChanged != 1 || rep.UnknownSpans != 1 {
		t.Errorf("parent changed %d (want 1), unknown %d (want 1)", rep.ParentChanged, rep.UnknownSpans)
	}
	// A link with the original parent's span ID but another trace ID.
	bad := link(rec(2, 11, 0), 10, LinkTypeParent)
	bad.Links[0].TraceID = pcommon.TraceID{2}
	rep = Analyze([]SpanRecord{rec(1, 10, 0), bad}, sent, 0)
	if rep.LinkTraceMismatch != 1 {
		t.Errorf("trace mismatch = %d, want 1", rep.LinkTraceMismatch)
	}
}

// TestAnalyzeLateParents: beyond max_spans (in send order) an output trace
// may hold only parents sent after one of their children in it.
func TestAnalyzeLateParents(t *testing.T) {
	// Trace 1 holds 20 and 21 (children of 23), 22 (child of 24, absent),
	// 23, and 25, whose only child 26 is in trace 2.
	records := []SpanRecord{rec(1, 20, 23), rec(1, 21, 23), rec(1, 22, 24), rec(1, 23, 0), rec(1, 25, 0), rec(2, 26, 0)}
	sent := sentFrom(map[byte]Sent{20: {Parent: [8]byte{23}, Order: 0}, 21: {Parent: [8]byte{23}, Order: 1},
		22: {Parent: [8]byte{24}, Order: 2}, 23: {Order: 3}, 25: {Order: 4}, 26: {Parent: [8]byte{25}, Order: 5}})
	rep := Analyze(records, sent, 2)
	if rep.OverBound != 1 || rep.LateParents != 1 || rep.OverBoundNotLate != 2 {
		t.Errorf("over bound %d (want 1), late parents %d (want 1: 23), not late %d (want 2: 22, 25)", rep.OverBound, rep.LateParents, rep.OverBoundNotLate)
	}
	// Without the send order nothing is claimed.
	if rep := Analyze(records, nil, 2); rep.LateParents != 0 || rep.OverBoundNotLate != 0 {
		t.Errorf("without sent: %+v", rep)
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
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if st := post(t, b, pb, "application/x-protobuf", ""); st != 200 {
				t.Errorf("status %d", st)
			}
		})
	}
	time.Sleep(150 * time.Millisecond)
	if n := b.Spans(); n != 100 {
		t.Errorf("after 150 ms, %d spans counted, want the first request's 100", n)
	}
	wg.Wait()
	if took := time.Since(start); took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("4 x 100 spans at 1,000/s took %s, want 400 ms", took)
	}
	if b.Spans() != 400 {
		t.Errorf("spans %d", b.Spans())
	}
	b.SetCapacity(0)
	start = time.Now()
	post(t, b, pb, "application/x-protobuf", "")
	if took := time.Since(start); took > 90*time.Millisecond {
		t.Errorf("unbounded backend took %s", took)
	}
}
