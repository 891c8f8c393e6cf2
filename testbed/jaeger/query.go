package jaeger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// V1Trace is one trace of the classic JSON API, the model Jaeger's UI reads.
type V1Trace struct {
	TraceID   string               `json:"traceID"`
	Spans     []V1Span             `json:"spans"`
	Processes map[string]V1Process `json:"processes"`
	Warnings  []string             `json:"warnings"`
}

// V1Span is one span of the classic model: the OTLP parent becomes a CHILD_OF
// reference, each span link a FOLLOWS_FROM one (without its attributes),
// the resource the span's process. Warnings are what the query service
// found wrong with the span, such as a parent missing from its trace.
type V1Span struct {
	TraceID       string   `json:"traceID"`
	SpanID        string   `json:"spanID"`
	OperationName string   `json:"operationName"`
	References    []V1Ref  `json:"references"`
	StartTime     int64    `json:"startTime"` // unix µs
	Duration      int64    `json:"duration"`  // µs
	Tags          []V1Tag  `json:"tags"`
	ProcessID     string   `json:"processID"`
	Warnings      []string `json:"warnings"`
}

// V1Ref is a span reference.
type V1Ref struct {
	RefType string `json:"refType"` // CHILD_OF or FOLLOWS_FROM
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Reference types of the classic model.
const (
	RefChildOf     = "CHILD_OF"
	RefFollowsFrom = "FOLLOWS_FROM"
)

// V1Tag is a tag: a span attribute or a resource attribute.
type V1Tag struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// String is the tag's value as text: a string unquoted, a number or a
// boolean as written.
func (t V1Tag) String() string {
	var s string
	if json.Unmarshal(t.Value, &s) == nil {
		return s
	}
	return string(t.Value)
}

// V1Process is the resource of a span.
type V1Process struct {
	ServiceName string  `json:"serviceName"`
	Tags        []V1Tag `json:"tags"`
}

type v1Response struct {
	Data   []V1Trace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// Fetch is what one read of a trace cost: the size of the answer and how
// long it took to arrive whole.
type Fetch struct {
	Bytes  int           `json:"bytes"`
	Took   time.Duration `json:"took_ns"`
	Status int           `json:"status"`
}

// get reads one answer of the query API; an answer other than 200 is an
// error naming its status and the start of its body.
func (j *Jaeger) get(ctx context.Context, path string) ([]byte, error) {
	body, f, err := j.fetch(ctx, path)
	if err == nil && f.Status != http.StatusOK {
		err = fmt.Errorf("jaeger %s: HTTP %d: %.200s", path, f.Status, body)
	}
	return body, err
}

func (j *Jaeger) fetch(ctx context.Context, path string) ([]byte, Fetch, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path, nil)
	if err != nil {
		return nil, Fetch{}, err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, Fetch{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, Fetch{Bytes: len(body), Took: time.Since(start), Status: resp.StatusCode}, err
}

// SearchIDs returns the IDs of the traces holding a span of service that
// started between from and to, at most limit (at most MaxTraces), through
// the classic search API.
func (j *Jaeger) SearchIDs(ctx context.Context, service string, from, to time.Time, limit int) ([]string, error) {
	q := url.Values{}
	q.Set("service", service)
	q.Set("start", strconv.FormatInt(from.UnixMicro(), 10))
	q.Set("end", strconv.FormatInt(to.UnixMicro(), 10))
	q.Set("limit", strconv.Itoa(limit))
	body, err := j.get(ctx, "/api/traces?"+q.Encode())
	if err != nil {
		return nil, err
	}
	traces, err := decodeV1(body)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(traces))
	for i, t := range traces {
		ids[i] = NormTraceID(t.TraceID)
	}
	return ids, nil
}

// TraceV1 reads one trace through the classic API, as the UI does.
func (j *Jaeger) TraceV1(ctx context.Context, id string) (V1Trace, Fetch, error) {
	body, f, err := j.fetch(ctx, "/api/traces/"+id)
	if err != nil {
		return V1Trace{}, f, err
	}
	if f.Status != http.StatusOK {
		return V1Trace{}, f, fmt.Errorf("jaeger /api/traces/%s: HTTP %d: %.200s", id, f.Status, body)
	}
	traces, err := decodeV1(body)
	if err != nil {
		return V1Trace{}, f, err
	}
	if len(traces) != 1 {
		return V1Trace{}, f, fmt.Errorf("jaeger /api/traces/%s: %d traces in the answer, expected 1", id, len(traces))
	}
	return traces[0], f, nil
}

func decodeV1(body []byte) ([]V1Trace, error) {
	var r v1Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("jaeger classic API answer: %w", err)
	}
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("jaeger classic API: %d %s", r.Errors[0].Code, r.Errors[0].Msg)
	}
	return r.Data, nil
}

// TraceV3 reads one trace through API v3: OTLP, span links with their
// attributes.
func (j *Jaeger) TraceV3(ctx context.Context, id string) (ptrace.Traces, Fetch, error) {
	body, f, err := j.fetch(ctx, "/api/v3/traces/"+id)
	if err != nil {
		return ptrace.Traces{}, f, err
	}
	if f.Status != http.StatusOK {
		return ptrace.Traces{}, f, fmt.Errorf("jaeger /api/v3/traces/%s: HTTP %d: %.200s", id, f.Status, body)
	}
	td, err := decodeV3(body)
	return td, f, err
}

// decodeV3 reads API v3's answer, {"result": <OTLP JSON TracesData>}.
func decodeV3(body []byte) (ptrace.Traces, error) {
	var r struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return ptrace.Traces{}, fmt.Errorf("jaeger API v3 answer: %w", err)
	}
	if len(bytes.TrimSpace(r.Result)) == 0 {
		return ptrace.Traces{}, fmt.Errorf("jaeger API v3 answer without a result: %.200s", body)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(r.Result)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("jaeger API v3 result: %w", err)
	}
	return td, nil
}

// NormTraceID writes a classic-API trace ID as 32 hex digits: the classic
// model prints a trace ID whose first 8 bytes are zero as 16 digits.
func NormTraceID(id string) string {
	id = strings.ToLower(id)
	if len(id) < 32 {
		id = strings.Repeat("0", 32-len(id)) + id
	}
	return id
}
