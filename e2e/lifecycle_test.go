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

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

const e2eMaxSpans = 1000

func lifecycleConfig(socketPath, backendURL string, metricsPort int) string {
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
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [lifecycle_identity, batch]
      exporters: [otlp_http]
`, socketPath, e2eMaxSpans, backendURL, collector.TelemetryYAML(metricsPort))
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
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return lifecycleConfig(socket, backend.URL, port) })
	startCollector(t, cfg, metricsPort, socket)
	client := udsClient(t, socket)

	long := lifecycleSpans(pcommon.TraceID{0xaa, 1}, 6667) // 20,001 spans
	// What was sent of every span, in send order, so Analyze can check that
	// re-rooted spans link to their original parent and that only late
	// parents push a segment over max_spans.
	sentOf := map[[8]byte]mockbackend.Sent{}
	record := func(td ptrace.Traces) {
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			s := spans.At(j)
			sentOf[s.SpanID()] = mockbackend.Sent{Parent: s.ParentSpanID(), Order: int64(len(sentOf))}
		}
	}
	sent := len(long)
	for i := 0; i < len(long); i += 500 {
		end := min(i+500, len(long))
		batch := batchOf(long[i:end])
		record(batch)
		postTraces(t, client, batch, nil)
		// Ordinary traces interleaved with the long one: each a root and
		// children of it.
		ordinary := makeTraces(byte(i/500+1), 20)
		record(ordinary)
		postTraces(t, client, ordinary, nil)
		sent += 20
	}

	require.Eventually(t, func() bool { return backend.Spans() >= int64(sent) }, 60*time.Second, 100*time.Millisecond,
		"backend should receive all %d spans", sent)
	time.Sleep(500 * time.Millisecond) // anything doubled would arrive now

	rep := mockbackend.Analyze(backend.Records(), func(id [8]byte) (mockbackend.Sent, bool) {
		s, ok := sentOf[id]
		return s, ok
	}, e2eMaxSpans)
	assert.Equal(t, sent, rep.UniqueSpans, "every span arrives")
	assert.Zero(t, rep.Duplicates, "no span arrives twice")
	assert.Zero(t, rep.OverHardBound, "no trace over 2 x max_spans (largest: %d)", rep.MaxTraceSpans)
	assert.Zero(t, rep.OverBoundNotLate, "only parents that arrive after their children push a segment over max_spans")
	assert.Zero(t, rep.UnknownSpans, "nothing arrives that was not sent")
	assert.Zero(t, rep.BrokenParents, "every span's parent is in its own output trace")
	assert.Zero(t, rep.ParentChanged, "no span gets another parent than the one it was sent with")
	assert.Zero(t, rep.MissingParents, "every parent arrives")
	assert.Positive(t, rep.Rerooted, "spans whose parent is in a closed segment are re-rooted")
	assert.Zero(t, rep.RerootedWithoutLink, "re-rooted spans link back to their original parent")
	assert.Zero(t, rep.LinkWrongParent, "a re-rooted span links to its own original parent")
	assert.Zero(t, rep.LinkWrongType, "the parent link carries lifecycle.link.type=parent")
	assert.Zero(t, rep.DanglingLinks)
	assert.Zero(t, rep.LinkTraceMismatch)
	assert.Zero(t, rep.BadProvenance, "moved spans carry origin trace ID and segment index")
	assert.GreaterOrEqual(t, rep.Segments, 20, "20,001 spans at max_spans %d make at least 20 segments", e2eMaxSpans)
}
