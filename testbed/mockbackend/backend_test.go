package mockbackend

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func traces(dest string, ids ...byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("trace_config.destination", dest)
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

func TestBackendDecodesCountsAndFails(t *testing.T) {
	b, err := Start(Options{Name: "x", Record: true, CountTraces: true, CountAttributes: []string{"trace_config.destination"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pb, _ := ptraceotlp.NewExportRequestFromTraces(traces("a", 1, 2)).MarshalProto()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(pb)
	_ = zw.Close()
	if st := post(t, b, gz.Bytes(), "application/x-protobuf", "gzip"); st != 200 {
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
	if got := b.AttributeCounts("trace_config.destination"); got["a"] != 4 || got[""] != 1 {
		t.Errorf("attribute counts %v", got)
	}
	if got := b.TraceCounts()[pcommon.TraceID{1}]; got != 5 {
		t.Errorf("trace count %d", got)
	}
	if len(b.Records()) != 5 {
		t.Errorf("records %d", len(b.Records()))
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
	isRoot := func(id [8]byte) bool { return id == [8]byte{10} }
	rep := Analyze(records, isRoot, 2)
	if rep.UniqueSpans != 5 || rep.Duplicates != 1 || rep.Traces != 2 || rep.MaxTraceSpans != 3 || rep.OverBound != 1 || rep.OverHardBound != 0 {
		t.Errorf("counts: %+v", rep)
	}
	if rep.Rerooted != 2 || rep.RerootedWithoutLink != 1 || rep.DanglingLinks != 0 || rep.LinkTraceMismatch != 0 {
		t.Errorf("re-rooting: %+v", rep)
	}
	if rep.BrokenParents != 0 || rep.MissingParents != 0 || rep.BadProvenance != 0 {
		t.Errorf("trees: %+v", rep)
	}
	if rep.SplitTraces != 1 || rep.Segments != 2 || rep.Moved != 2 || rep.SegmentSize.Max != 3 || rep.SegmentSize.Min != 2 {
		t.Errorf("segments: %+v", rep)
	}
	// A child left in another trace than its parent is a broken tree.
	rep = Analyze([]SpanRecord{rec(1, 10, 0), rec(2, 11, 10)}, isRoot, 0)
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
