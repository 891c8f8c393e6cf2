package e2e

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"

	"github.com/tracebound/tracebound/internal/oracle"
)

const e2eMaxSpans = 1000

func lifecycleConfig(socketPath, backendURL, identityURL string, metricsPort int) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
processors:
  lifecycle_identity:
    identity:
      on_violation: tag
    split:
      max_spans: %d
  batch:
    timeout: 100ms
exporters:
  otlp_http:
    endpoint: %s
  otlp_http/identity:
    endpoint: %s
    compression: none
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      processors: [lifecycle_identity, batch]
      exporters: [otlp_http, otlp_http/identity]
`, socketPath, e2eMaxSpans, backendURL, identityURL, collector.TelemetryYAML(metricsPort))
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

// identityFaults are the ways the test breaks the identity of a span of the
// long trace (whose resource carries a valid component.name and
// footprint.identifier), with the tag the processor must add, in schema
// order (nil: valid).
var identityFaults = []struct {
	set  func(pcommon.Map)
	want []string
}{
	{nil, nil},
	{func(m pcommon.Map) { m.PutStr("footprint.revision", "seven") }, []string{"type:footprint.revision"}},
	{func(m pcommon.Map) { m.PutStr("process.nonce", "not-a-uuid") }, []string{"pattern:process.nonce"}},
	{func(m pcommon.Map) { m.PutInt("component.name", 42) }, []string{"type:component.name"}},
	{func(m pcommon.Map) { // valid values on the span itself
		m.PutInt("footprint.revision", 3)
		m.PutStr("process.nonce", "123e4567-e89b-12d3-a456-426614174000")
		m.PutStr("footprint.solution", "shop")
	}, nil},
	{func(m pcommon.Map) {
		m.PutStr("process.nonce", "x")
		m.PutDouble("footprint.revision", 1.5)
		m.PutBool("footprint.identifier", true)
	}, []string{"type:footprint.identifier", "type:footprint.revision", "pattern:process.nonce"}},
}

// ordinaryIdentity gives the resource of the n-th ordinary trace an identity:
// none (both required keys missing), a valid one, or a valid one with a bad
// footprint.solution; it returns the tag every span of the trace must carry.
func ordinaryIdentity(n int, res pcommon.Map) []string {
	switch n % 3 {
	case 0:
		return []string{"missing:component.name", "missing:footprint.identifier"}
	case 1:
		res.PutStr("component.name", "api")
		res.PutStr("footprint.identifier", "fp-api")
		return nil
	default:
		res.PutStr("component.name", "api")
		res.PutStr("footprint.identifier", "fp-api")
		res.PutInt("footprint.solution", 7)
		return []string{"type:footprint.solution"}
	}
}

// identityRecord is what the identity backend saw of one span: its
// lifecycle.identity.violations tag and what is wrong with its identity by
// the default schema, judged independently of the processor from the
// attributes it arrived with (on the span, else on its resource).
type identityRecord struct {
	tag, wrong []string
	tagged     bool
}

// identityRecords are what the identity backend saw, by span ID: its
// mockbackend hands each request's traces to record.
type identityRecords struct {
	mu    sync.Mutex
	spans map[pcommon.SpanID][]identityRecord
}

func (b *identityRecords) record(td ptrace.Traces) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				rec := identityRecord{wrong: identityProblems(sp.Attributes(), rs.Resource().Attributes())}
				if v, ok := sp.Attributes().Get("lifecycle.identity.violations"); ok {
					rec.tagged = true
					if v.Type() == pcommon.ValueTypeSlice {
						for _, e := range v.Slice().All() {
							rec.tag = append(rec.tag, e.AsString())
						}
					} else {
						rec.tag = []string{"not a slice: " + v.AsString()}
					}
				}
				b.spans[sp.SpanID()] = append(b.spans[sp.SpanID()], rec)
			}
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// identityProblems judges a span's identity by the default schema
// (DESIGN.md), in schema order: component.name and footprint.identifier
// required strings, footprint.revision an int, footprint.solution a string,
// process.nonce a UUID; each looked up on the span, then on its resource.
func identityProblems(span, res pcommon.Map) []string {
	var out []string
	for _, r := range []struct {
		key      string
		required bool
		typ      pcommon.ValueType
		uuid     bool
	}{
		{"component.name", true, pcommon.ValueTypeStr, false},
		{"footprint.identifier", true, pcommon.ValueTypeStr, false},
		{"footprint.revision", false, pcommon.ValueTypeInt, false},
		{"footprint.solution", false, pcommon.ValueTypeStr, false},
		{"process.nonce", false, pcommon.ValueTypeStr, true},
	} {
		v, ok := span.Get(r.key)
		if !ok {
			v, ok = res.Get(r.key)
		}
		switch {
		case !ok && r.required:
			out = append(out, "missing:"+r.key)
		case !ok:
		case v.Type() != r.typ:
			out = append(out, "type:"+r.key)
		case r.uuid && !uuidRE.MatchString(v.Str()):
			out = append(out, "pattern:"+r.key)
		}
	}
	return out
}

// One long-lived trace of 20,001 spans among ordinary traces goes through the
// built binary; the backend gets every span exactly once and no trace over
// the bound, each a valid tree whose re-rooted spans link to their parent;
// and every span arrives with a complete, valid identity or with a
// lifecycle.identity.violations tag saying exactly what is wrong with it
// (issue 3, "Done when"). Some spans of the long trace break the identity
// on the span, some ordinary traces on their resource.
func TestLifecycleTraceIsBoundedEndToEnd(t *testing.T) {
	backend := newBackend(t, "backend")
	ids := &identityRecords{spans: map[pcommon.SpanID][]identityRecord{}}
	idBackend := startBackend(t, mockbackend.Options{Name: "identity", OnTraces: ids.record})
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string {
		return lifecycleConfig(socket, backend.URL, idBackend.URL, port)
	})
	proc := startCollector(t, cfg, metricsPort, socket)
	client := udsClient(t, socket)

	long := lifecycleSpans(pcommon.TraceID{0xaa, 1}, 6667) // 20,001 spans
	// The tag each span must arrive with (absent: none).
	wantTag := map[pcommon.SpanID][]string{}
	for k, s := range long {
		f := identityFaults[k%len(identityFaults)]
		if f.set != nil {
			f.set(s.Attributes())
		}
		wantTag[s.SpanID()] = f.want
	}
	// What was sent of every span, in send order, so Analyze can check that
	// re-rooted spans link to their original parent and that only late
	// parents push a segment over max_spans.
	sentOf := map[[8]byte]oracle.Sent{}
	record := func(td ptrace.Traces) {
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			s := spans.At(j)
			sentOf[s.SpanID()] = oracle.Sent{Parent: s.ParentSpanID(), Order: int64(len(sentOf))}
		}
	}
	sent := len(long)
	for i := 0; i < len(long); i += 500 {
		end := min(i+500, len(long))
		batch := batchOf(long[i:end])
		record(batch)
		postTraces(t, client, batch, nil)
		// Ordinary traces interleaved with the long one: each a root and
		// children of it, with no identity, a valid one or a bad one.
		ordinary := makeTraces(byte(i/500+1), 20)
		want := ordinaryIdentity(i/500, ordinary.ResourceSpans().At(0).Resource().Attributes())
		for _, s := range ordinary.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
			wantTag[s.SpanID()] = want
		}
		record(ordinary)
		postTraces(t, client, ordinary, nil)
		sent += 20
	}
	require.Len(t, wantTag, sent, "span IDs are unique")

	require.Eventually(t, func() bool { return backend.Spans() >= int64(sent) }, 60*time.Second, 100*time.Millisecond,
		"backend should receive all %d spans", sent)
	require.Eventually(t, func() bool { return idBackend.Spans() >= int64(sent) }, 60*time.Second, 100*time.Millisecond,
		"identity backend should receive all %d spans", sent)
	time.Sleep(500 * time.Millisecond) // anything doubled would arrive now

	rep := oracle.Analyze(backend.Records(), func(id [8]byte) (oracle.Sent, bool) {
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

	// Identity: every span either carries a complete, valid identity and no
	// tag, or a tag naming exactly what is wrong, in schema order.
	ids.mu.Lock()
	defer ids.mu.Unlock()
	assert.Len(t, ids.spans, sent, "the identity backend gets every span")
	var untaggedBad, tagDisagrees, notAsSent []string
	tagged := map[string]int{} // spans per tag entry
	note := func(l *[]string, f string, a ...any) {
		if len(*l) < 10 {
			*l = append(*l, fmt.Sprintf(f, a...))
		}
	}
	for id, recs := range ids.spans {
		require.Len(t, recs, 1, "span %s arrives once", id)
		r := recs[0]
		switch {
		case !r.tagged && len(r.wrong) > 0:
			note(&untaggedBad, "span %s: identity %v, no tag", id, r.wrong)
		case r.tagged && !slices.Equal(r.tag, r.wrong):
			note(&tagDisagrees, "span %s: tag %v, identity %v", id, r.tag, r.wrong)
		}
		if want, ok := wantTag[id]; !ok {
			note(&notAsSent, "span %s never sent", id)
		} else if !slices.Equal(r.tag, want) || r.tagged != (want != nil) {
			note(&notAsSent, "span %s: tag %v (tagged %v), want %v", id, r.tag, r.tagged, want)
		}
		for _, e := range r.tag {
			tagged[e]++
		}
	}
	assert.Empty(t, untaggedBad, "a span with a missing or wrong identity attribute carries a violation tag")
	assert.Empty(t, tagDisagrees, "a violation tag says exactly what is wrong")
	assert.Empty(t, notAsSent, "each span is tagged for what the test broke")
	// Every kind of violation occurred, and the processor counted each one.
	for _, e := range []string{"missing:component.name", "missing:footprint.identifier", "type:component.name",
		"type:footprint.identifier", "type:footprint.revision", "type:footprint.solution", "pattern:process.nonce"} {
		assert.Positive(t, tagged[e], "some span tagged %s", e)
	}
	for _, kind := range []string{"missing", "type", "pattern"} {
		var n int
		for e, c := range tagged {
			if strings.HasPrefix(e, kind+":") {
				n += c
			}
		}
		assert.EqualValues(t, n, selfMetric(t, proc, "otelcol_processor_lifecycle_identity_violations", map[string]string{"kind": kind}),
			"violations of kind %s counted", kind)
	}
}
