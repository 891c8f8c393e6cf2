package e2e

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// otlpBackend is a real OTLP/HTTP traces endpoint that keeps what it receives.
type otlpBackend struct {
	*httptest.Server
	mu     sync.Mutex
	traces []ptrace.Traces
}

func newOTLPBackend(t *testing.T) *otlpBackend {
	t.Helper()
	b := &otlpBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(b.handle))
	t.Cleanup(b.Close)
	return b
}

func (b *otlpBackend) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.traces = append(b.traces, req.Traces())
	b.mu.Unlock()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// spans returns every span received so far with its resource attributes.
func (b *otlpBackend) spans() []receivedSpan {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []receivedSpan
	for _, td := range b.traces {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					out = append(out, receivedSpan{resource: rs.Resource().Attributes().AsRaw(), span: ss.At(k)})
				}
			}
		}
	}
	return out
}

func (b *otlpBackend) spanCount() int {
	return len(b.spans())
}

type receivedSpan struct {
	resource map[string]any
	span     ptrace.Span
}
