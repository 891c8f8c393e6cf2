package jaeger

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Answers in the shapes Jaeger v1.75's query API writes: the classic API's
// envelope (a trace ID whose first half is zero printed as 16 digits), API
// v3's grpc-gateway wrapper around OTLP JSON (enums as numbers, int64 as
// strings).
const (
	v1Search = `{"data":[{"traceID":"00000000000000f1","spans":[],"processes":{}},{"traceID":"ab0000000000000000000000000000f2","spans":[],"processes":{}}],"total":0,"limit":0,"offset":0,"errors":null}`
	v1Trace  = `{"data":[{"traceID":"ab0000000000000000000000000000f2","spans":[{"traceID":"ab0000000000000000000000000000f2","spanID":"0000000000000002","operationName":"work","references":[{"refType":"FOLLOWS_FROM","traceID":"ab0000000000000000000000000000f1","spanID":"0000000000000001"}],"startTime":1700000000000000,"duration":1000,"tags":[{"key":"lifecycle.segment.index","type":"int64","value":3}],"logs":[],"processID":"p1","warnings":["w"]}],"processes":{"p1":{"serviceName":"svc","tags":[{"key":"trace_config.account","type":"string","value":"42"}]}},"warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}`
	v3Trace  = `{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"trace_config.account","value":{"stringValue":"42"}}]},"scopeSpans":[{"scope":{},"spans":[{"kind":1,"name":"work","spanId":"0000000000000002","traceId":"ab0000000000000000000000000000f2","attributes":[{"key":"lifecycle.segment.index","value":{"intValue":"3"}}],"links":[{"traceId":"ab0000000000000000000000000000f1","spanId":"0000000000000001","attributes":[{"key":"lifecycle.link.type","value":{"stringValue":"parent"}}]}]}]}]}]}}`
)

func fakeQuery(t *testing.T) *Jaeger {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/traces", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("service") != "svc" || q.Get("limit") != "7" || q.Get("start") != "1700000000000000" || q.Get("end") != "1700000060000000" {
			http.Error(w, `{"data":null,"errors":[{"code":400,"msg":"bad query `+r.URL.RawQuery+`"}]}`, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(v1Search))
	})
	mux.HandleFunc("/api/traces/ab0000000000000000000000000000f2", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(v1Trace)) })
	mux.HandleFunc("/api/v3/traces/ab0000000000000000000000000000f2", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(v3Trace)) })
	mux.HandleFunc("/api/v3/traces/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"httpCode":404,"message":"No traces found"}}`, http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Jaeger{QueryURL: srv.URL, client: srv.Client()}
}

func TestQueryAPIs(t *testing.T) {
	j := fakeQuery(t)
	from := time.UnixMicro(1700000000000000)
	ids, err := j.SearchIDs(t.Context(), "svc", from, from.Add(time.Minute), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != "000000000000000000000000000000f1" || ids[1] != "ab0000000000000000000000000000f2" {
		t.Errorf("ids %v", ids)
	}

	v1, f, err := j.TraceV1(t.Context(), ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if f.Bytes != len(v1Trace) || f.Status != 200 || len(v1.Spans) != 1 {
		t.Fatalf("classic: %+v %+v", f, v1)
	}
	sp := v1.Spans[0]
	if tag(sp.Tags, "lifecycle.segment.index") != "3" || sp.References[0].RefType != RefFollowsFrom || traceConfig(v1.Processes[sp.ProcessID].Tags) != "account=42" {
		t.Errorf("classic span %+v", sp)
	}

	v3, f, err := j.TraceV3(t.Context(), ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if f.Bytes != len(v3Trace) || v3.SpanCount() != 1 {
		t.Fatalf("v3: %+v, %d spans", f, v3.SpanCount())
	}
	span := v3.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	idx, _ := span.Attributes().Get("lifecycle.segment.index")
	lt, _ := span.Links().At(0).Attributes().Get("lifecycle.link.type")
	if idx.Int() != 3 || lt.Str() != "parent" || span.SpanID().String() != "0000000000000002" {
		t.Errorf("v3 span: index %v, link type %v, id %s", idx.AsRaw(), lt.AsRaw(), span.SpanID())
	}
}

// TestQueryErrors: an answer that is not a trace is an error that says
// why, never an empty trace.
func TestQueryErrors(t *testing.T) {
	j := fakeQuery(t)
	if _, _, err := j.TraceV3(t.Context(), "00000000000000000000000000000099"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("v3 of a missing trace: %v", err)
	}
	if _, err := j.SearchIDs(t.Context(), "other", time.Now(), time.Now(), 7); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("bad search: %v", err)
	}
	if _, err := decodeV1([]byte(`{"data":null,"errors":[{"code":500,"msg":"boom"}]}`)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("classic error: %v", err)
	}
	if _, err := decodeV3([]byte(`{}`)); err == nil {
		t.Error("v3 without a result read as a trace")
	}
}
