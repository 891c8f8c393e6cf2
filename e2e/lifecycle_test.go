package e2e

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const e2eMaxSpans = 1000

func lifecycleConfig(socketPath, backendURL string) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
processors:
  lifecycle_identity:
    split:
      max_spans: %d
  batch:
    timeout: 100ms
exporters:
  otlp_http:
    endpoint: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [lifecycle_identity, batch]
      exporters: [otlp_http]
`, socketPath, e2eMaxSpans, backendURL)
}

// lifecycleSpans builds one long-lived trace as a service produces it: a root
// held open for the process's life, a handler span per message with two
// children each. Children end, and so arrive, before their parents; the root
// arrives last.
func lifecycleSpans(traceID pcommon.TraceID, handlers int) []ptrace.Span {
	holder := ptrace.NewSpanSlice()
	id := func(n uint64) pcommon.SpanID {
		var s pcommon.SpanID
		binary.BigEndian.PutUint64(s[:], n)
		return s
	}
	root := id(1)
	var next uint64 = 2
	add := func(spanID, parent pcommon.SpanID, name string) {
		s := holder.AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(spanID)
		s.SetParentSpanID(parent)
		s.SetName(name)
		s.SetStartTimestamp(pcommon.Timestamp(time.Now().UnixNano()))
		s.SetEndTimestamp(pcommon.Timestamp(time.Now().UnixNano()))
	}
	for h := 0; h < handlers; h++ {
		handler := id(next)
		next++
		add(id(next), handler, "db.query")
		next++
		add(id(next), handler, "publish")
		next++
		add(handler, root, "handle.message")
	}
	add(root, pcommon.SpanID{}, "lifecycle")
	out := make([]ptrace.Span, holder.Len())
	for i := range out {
		out[i] = holder.At(i)
	}
	return out
}

func batchOf(spans []ptrace.Span) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "lifecycle-e2e")
	rs.Resource().Attributes().PutStr("component.name", "worker")
	rs.Resource().Attributes().PutStr("footprint.identifier", "fp-e2e")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for _, s := range spans {
		s.CopyTo(ss.AppendEmpty())
	}
	return td
}

// One long-lived trace of 20,001 spans among ordinary traces goes through the
// built binary; the backend gets every span exactly once and no trace over
// the bound, each a valid tree whose re-rooted spans link to their parent.
func TestLifecycleTraceIsBoundedEndToEnd(t *testing.T) {
	backend := newOTLPBackend(t)
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	startCollector(t, writeConfig(t, dir, lifecycleConfig(socket, backend.URL)), socket)
	client := udsClient(socket)

	long := lifecycleSpans(pcommon.TraceID{0xaa, 1}, 6667) // 20,001 spans
	sent := len(long)
	for i := 0; i < len(long); i += 500 {
		end := min(i+500, len(long))
		postTraces(t, client, batchOf(long[i:end]), nil)
		// Ordinary traces interleaved with the long one.
		postTraces(t, client, makeTraces(byte(i/500+1), 20), nil)
		sent += 20
	}

	require.Eventually(t, func() bool { return backend.spanCount() >= sent }, 60*time.Second, 100*time.Millisecond,
		"backend should receive all %d spans", sent)
	time.Sleep(500 * time.Millisecond) // anything doubled would arrive now
	spans := backend.spans()
	require.Len(t, spans, sent, "every span exactly once")

	type key struct {
		trace pcommon.TraceID
		span  pcommon.SpanID
	}
	perTrace := map[pcommon.TraceID]int{}
	longSegments := map[pcommon.TraceID]bool{}
	present := map[key]bool{}
	seen := map[pcommon.SpanID]bool{} // span IDs are unique across the input
	for _, s := range spans {
		id := s.span.TraceID()
		perTrace[id]++
		if s.resource["service.name"] == "lifecycle-e2e" {
			longSegments[id] = true
		}
		assert.False(t, seen[s.span.SpanID()], "span %s doubled", s.span.SpanID())
		seen[s.span.SpanID()] = true
		present[key{id, s.span.SpanID()}] = true
	}
	for id, n := range perTrace {
		assert.LessOrEqual(t, n, 2*e2eMaxSpans, "trace %s holds %d spans", id, n)
	}
	assert.GreaterOrEqual(t, len(longSegments), 20, "20,001 spans at max_spans %d make at least 20 segments", e2eMaxSpans)

	links := 0
	for _, s := range spans {
		parent := s.span.ParentSpanID()
		if parent.IsEmpty() {
			continue
		}
		assert.True(t, present[key{s.span.TraceID(), parent}], "span %s: parent %s not in its output trace", s.span.SpanID(), parent)
	}
	for _, s := range spans {
		for i := 0; i < s.span.Links().Len(); i++ {
			l := s.span.Links().At(i)
			if v, ok := l.Attributes().Get("lifecycle.link.type"); ok && v.Str() == "parent" {
				links++
				assert.Equal(t, pcommon.TraceID{0xaa, 1}, l.TraceID())
			}
		}
	}
	assert.Positive(t, links, "re-rooted spans link back to their original parent")
}
