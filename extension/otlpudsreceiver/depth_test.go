package otlpudsreceiver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// errRecursionDepth is the message of pdata's proto.ErrRecursionDepth
// (internal/proto/unmarshal.go), which pdata does not export.
const errRecursionDepth = "proto: exceeded max recursion depth"

// leaf kinds a nesting can end in.
const (
	leafString     = "string"
	leafEmpty      = "empty value"
	leafEmptyMap   = "empty map"
	leafEmptyArray = "empty array"
)

// nest makes v n nested containers deep, maps or arrays as kinds says
// (kinds[i%len(kinds)] is 'm' or 'a' for level i), ending in leaf.
func nest(v pcommon.Value, n int, kinds, leaf string) {
	for i := range n {
		if kinds[i%len(kinds)] == 'm' {
			m := v.SetEmptyMap()
			m.PutStr("sibling", "s") // a shallow sibling changes nothing
			v = m.PutEmpty("k")
		} else {
			s := v.SetEmptySlice()
			s.AppendEmpty().SetInt(7)
			v = s.AppendEmpty()
		}
	}
	switch leaf {
	case leafString:
		v.SetStr("leaf")
	case leafEmptyMap:
		v.SetEmptyMap()
	case leafEmptyArray:
		v.SetEmptySlice()
	default: // leafEmpty: the value stays empty
	}
}

// probe is one request holding a single item whose value at some location
// was filled in by the test, with what the tests do to it.
type probe struct {
	// data is the request: ptrace.Traces, pmetric.Metrics or plog.Logs.
	data any
	// roundTrip marshals the request as a destination would receive it and
	// unmarshals it as a pdata-based receiver does.
	roundTrip func() error
	drop      func() deepResult
	count     func() int
}

func tracesProbe(td ptrace.Traces) probe {
	return probe{
		data: td,
		roundTrip: func() error {
			b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
			if err != nil {
				return err
			}
			return ptraceotlp.NewExportRequest().UnmarshalProto(b)
		},
		drop:  func() deepResult { return dropTooDeep(td) },
		count: td.SpanCount,
	}
}

func metricsProbe(md pmetric.Metrics) probe {
	return probe{
		data: md,
		roundTrip: func() error {
			b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			if err != nil {
				return err
			}
			return pmetricotlp.NewExportRequest().UnmarshalProto(b)
		},
		drop:  func() deepResult { return dropTooDeep(md) },
		count: md.DataPointCount,
	}
}

func logsProbe(ld plog.Logs) probe {
	return probe{
		data: ld,
		roundTrip: func() error {
			b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
			if err != nil {
				return err
			}
			return plogotlp.NewExportRequest().UnmarshalProto(b)
		},
		drop:  func() deepResult { return dropTooDeep(ld) },
		count: ld.LogRecordCount,
	}
}

func newSpan() (ptrace.Traces, ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ss := rs.ScopeSpans().AppendEmpty()
	s := ss.Spans().AppendEmpty()
	s.SetName("s")
	return td, rs, ss, s
}

func newMetric(typ pmetric.MetricType) (pmetric.Metrics, pmetric.ResourceMetrics, pmetric.ScopeMetrics, pmetric.Metric) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	m := sm.Metrics().AppendEmpty()
	m.SetName("m")
	switch typ {
	case pmetric.MetricTypeGauge:
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	case pmetric.MetricTypeSum:
		m.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(1)
	case pmetric.MetricTypeHistogram:
		m.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(1)
	case pmetric.MetricTypeExponentialHistogram:
		m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetCount(1)
	case pmetric.MetricTypeSummary:
		m.SetEmptySummary().DataPoints().AppendEmpty().SetCount(1)
	default:
	}
	return md, rm, sm, m
}

func newLogRecord() (plog.Logs, plog.ResourceLogs, plog.ScopeLogs, plog.LogRecord) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	sl := rl.ScopeLogs().AppendEmpty()
	lr := sl.LogRecords().AppendEmpty()
	return ld, rl, sl, lr
}

// location is a place a request holds an AnyValue.
type location struct {
	name string
	// where is how dropTooDeep names it.
	where string
	// build returns a request of one item with fill applied to the value
	// at this location.
	build func(fill func(pcommon.Value)) probe
}

func attr(m pcommon.Map, fill func(pcommon.Value)) { fill(m.PutEmpty("deep")) }

var locations = []location{
	{"traces/resource", "resource attribute", func(fill func(pcommon.Value)) probe {
		td, rs, _, _ := newSpan()
		attr(rs.Resource().Attributes(), fill)
		return tracesProbe(td)
	}},
	{"traces/scope", "scope attribute", func(fill func(pcommon.Value)) probe {
		td, _, ss, _ := newSpan()
		attr(ss.Scope().Attributes(), fill)
		return tracesProbe(td)
	}},
	{"traces/span", "span attribute", func(fill func(pcommon.Value)) probe {
		td, _, _, s := newSpan()
		attr(s.Attributes(), fill)
		return tracesProbe(td)
	}},
	{"traces/event", "span event attribute", func(fill func(pcommon.Value)) probe {
		td, _, _, s := newSpan()
		s.Events().AppendEmpty().SetName("ok")
		attr(s.Events().AppendEmpty().Attributes(), fill)
		return tracesProbe(td)
	}},
	{"traces/link", "span link attribute", func(fill func(pcommon.Value)) probe {
		td, _, _, s := newSpan()
		attr(s.Links().AppendEmpty().Attributes(), fill)
		return tracesProbe(td)
	}},
	{"metrics/resource", "resource attribute", func(fill func(pcommon.Value)) probe {
		md, rm, _, _ := newMetric(pmetric.MetricTypeGauge)
		attr(rm.Resource().Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/scope", "scope attribute", func(fill func(pcommon.Value)) probe {
		md, _, sm, _ := newMetric(pmetric.MetricTypeSum)
		attr(sm.Scope().Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/metadata", "metric metadata", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeGauge)
		attr(m.Metadata(), fill)
		return metricsProbe(md)
	}},
	{"metrics/gauge", "data point attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeGauge)
		attr(m.Gauge().DataPoints().At(0).Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/sum", "data point attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeSum)
		attr(m.Sum().DataPoints().At(0).Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/histogram", "data point attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeHistogram)
		attr(m.Histogram().DataPoints().At(0).Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/exponential_histogram", "data point attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeExponentialHistogram)
		attr(m.ExponentialHistogram().DataPoints().At(0).Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/summary", "data point attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeSummary)
		attr(m.Summary().DataPoints().At(0).Attributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/sum_exemplar", "exemplar filtered attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeSum)
		attr(m.Sum().DataPoints().At(0).Exemplars().AppendEmpty().FilteredAttributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/histogram_exemplar", "exemplar filtered attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeHistogram)
		attr(m.Histogram().DataPoints().At(0).Exemplars().AppendEmpty().FilteredAttributes(), fill)
		return metricsProbe(md)
	}},
	{"metrics/exponential_histogram_exemplar", "exemplar filtered attribute", func(fill func(pcommon.Value)) probe {
		md, _, _, m := newMetric(pmetric.MetricTypeExponentialHistogram)
		attr(m.ExponentialHistogram().DataPoints().At(0).Exemplars().AppendEmpty().FilteredAttributes(), fill)
		return metricsProbe(md)
	}},
	{"logs/resource", "resource attribute", func(fill func(pcommon.Value)) probe {
		ld, rl, _, _ := newLogRecord()
		attr(rl.Resource().Attributes(), fill)
		return logsProbe(ld)
	}},
	{"logs/scope", "scope attribute", func(fill func(pcommon.Value)) probe {
		ld, _, sl, _ := newLogRecord()
		attr(sl.Scope().Attributes(), fill)
		return logsProbe(ld)
	}},
	{"logs/body", "log record body", func(fill func(pcommon.Value)) probe {
		ld, _, _, lr := newLogRecord()
		fill(lr.Body())
		return logsProbe(ld)
	}},
	{"logs/attribute", "log record attribute", func(fill func(pcommon.Value)) probe {
		ld, _, _, lr := newLogRecord()
		attr(lr.Attributes(), fill)
		return logsProbe(ld)
	}},
}

// refusedDownstream runs p's protobuf round trip and reports whether a
// pdata-based receiver refuses it for its depth; any other failure fails
// the test.
func refusedDownstream(t *testing.T, p probe) bool {
	t.Helper()
	err := p.roundTrip()
	if err == nil {
		return false
	}
	require.ErrorContains(t, err, errRecursionDepth)
	return true
}

// TestDepthRuleMatchesPdata checks, for every location a request holds
// values in, every shape of nesting (maps, arrays, both alternating) and
// every leaf (a string, an empty value, an empty map, an empty array), at
// every nesting count up to past the limit, that otlpuds refuses exactly
// what a pdata-based receiver refuses once pdata has re-encoded it: no
// more, no less, so no off-by-one. It also pins the largest nesting that
// passes, as the README states it.
func TestDepthRuleMatchesPdata(t *testing.T) {
	// The most nested containers a value holds and still decodes, by where
	// it starts (attribute or log body), shape and leaf: from the rule in
	// maxProtoDepth's comment, checked here against pdata itself.
	// The most nested containers (maps or arrays, an empty innermost one
	// included) a value holds and still decodes, by where it starts
	// (attribute or log body), shape and leaf: from the rule in
	// maxProtoDepth's comment, checked here against pdata itself.
	wantMax := map[string]int{
		"attribute maps string": 32, "attribute maps empty value": 32, "attribute maps empty map": 33, "attribute maps empty array": 33,
		"attribute arrays string": 49, "attribute arrays empty value": 49, "attribute arrays empty map": 49, "attribute arrays empty array": 49,
		"body maps string": 33, "body maps empty value": 33, "body maps empty map": 33, "body maps empty array": 33,
		"body arrays string": 49, "body arrays empty value": 49, "body arrays empty map": 50, "body arrays empty array": 50,
	}
	shapes := map[string]string{"maps": "m", "arrays": "a", "mixed-ma": "ma", "mixed-aam": "aam"}
	for _, loc := range locations {
		for shapeName, kinds := range shapes {
			for _, leaf := range []string{leafString, leafEmpty, leafEmptyMap, leafEmptyArray} {
				t.Run(loc.name+"/"+shapeName+"/"+leaf, func(t *testing.T) {
					largestPassing := -1
					for n := 0; n <= 60; n++ {
						build := func() probe {
							return loc.build(func(v pcommon.Value) { nest(v, n, kinds, leaf) })
						}
						refused := refusedDownstream(t, build())
						p := build()
						before := p.count()
						res := p.drop()
						require.Equal(t, refused, res.removals > 0, "nesting %d: pdata refuses=%t, otlpuds refuses=%t", n, refused, !refused)
						if refused {
							assert.Equal(t, before, res.items)
							assert.Zero(t, p.count())
							assert.Equal(t, loc.where, res.first.where)
							if loc.where != "log record body" {
								assert.Equal(t, "deep", res.first.key)
							}
						} else {
							largestPassing = n
							if leaf == leafEmptyMap || leaf == leafEmptyArray {
								largestPassing++ // the empty container at the bottom
							}
							assert.Equal(t, before, p.count())
						}
					}
					start := "attribute"
					if loc.name == "logs/body" {
						start = "body"
					}
					if want, ok := wantMax[start+" "+shapeName+" "+leaf]; ok {
						assert.Equal(t, want, largestPassing)
					}
				})
			}
		}
	}
}

// randomDeepValue fills v with a random nesting length levels deep: maps
// and arrays with shallow siblings, one of which goes on, ending in a
// random leaf.
func randomDeepValue(rng *rand.Rand, v pcommon.Value, length int) {
	for range length {
		if rng.IntN(2) == 0 {
			m := v.SetEmptyMap()
			for i := range rng.IntN(3) {
				m.PutEmpty(fmt.Sprintf("e%d", i)) // empty siblings
			}
			if rng.IntN(2) == 0 {
				m.PutEmptySlice("x")
			}
			v = m.PutEmpty("next")
		} else {
			s := v.SetEmptySlice()
			s.EnsureCapacity(4) // v must stay valid while a sibling is appended after it
			for range rng.IntN(2) {
				s.AppendEmpty().SetEmptyMap()
			}
			v = s.AppendEmpty()
			if rng.IntN(2) == 0 {
				s.AppendEmpty().SetBool(true)
			}
		}
	}
	switch rng.IntN(4) {
	case 0:
		v.SetStr("leaf")
	case 1:
		v.SetEmptyMap()
	case 2:
		v.SetEmptySlice()
	default:
	}
}

// TestDepthRuleMatchesPdataRandom compares otlpuds's verdict with pdata's
// on random nestings around the limit, in an attribute and in a log body.
func TestDepthRuleMatchesPdataRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 100))
	var passed, refused int
	for i := range 3000 {
		loc := locations[[]int{2, 3, 18, 19}[i%4]] // span, event, log body, log attribute
		length := 20 + rng.IntN(40)
		seed1, seed2 := rng.Uint64(), rng.Uint64()
		build := func() probe {
			r := rand.New(rand.NewPCG(seed1, seed2))
			return loc.build(func(v pcommon.Value) { randomDeepValue(r, v, length) })
		}
		want := refusedDownstream(t, build())
		got := build().drop().removals > 0
		require.Equal(t, want, got, "case %d (%s, %d levels): pdata refuses=%t", i, loc.name, length, want)
		if want {
			refused++
		} else {
			passed++
		}
	}
	// Both outcomes were exercised.
	t.Logf("%d passed, %d refused", passed, refused)
	assert.Greater(t, passed, 300)
	assert.Greater(t, refused, 300)
}

// Raw protobuf, for bodies pdata's encoder would not write.

func pbField(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// pbKeyValue is a KeyValue; a nil value leaves the value field out, which
// pdata's encoder never does.
func pbKeyValue(key string, value []byte) []byte {
	b := pbField(nil, 1, []byte(key))
	if value != nil {
		b = pbField(b, 2, value)
	}
	return b
}

// pbMapOf is an AnyValue holding a kvlist of the given KeyValues.
func pbMapOf(kvs ...[]byte) []byte {
	var list []byte
	for _, kv := range kvs {
		list = pbField(list, 1, kv)
	}
	return pbField(nil, 6, list)
}

// pbArraysAround is an AnyValue nesting v in n arrays.
func pbArraysAround(v []byte, n int) []byte {
	for range n {
		v = pbField(nil, 5, pbField(nil, 1, v))
	}
	return v
}

func pbString(s string) []byte { return pbField(nil, 1, []byte(s)) }

// pbSpan is a Span with the given attributes (KeyValues).
func pbSpan(name string, attrs ...[]byte) []byte {
	b := pbField(nil, 1, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	b = pbField(b, 2, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	b = pbField(b, 5, []byte(name))
	for _, a := range attrs {
		b = pbField(b, 9, a)
	}
	return b
}

// pbTraces is an ExportTraceServiceRequest of one resource and scope
// holding spans.
func pbTraces(spans ...[]byte) []byte {
	var scope []byte
	for _, s := range spans {
		scope = pbField(scope, 2, s)
	}
	return pbField(nil, 1, pbField(nil, 2, scope))
}

// keyValueWithoutValueAtTheLimit is an attribute holding 33 nested maps
// whose innermost entry is a KeyValue without its value field. The decoder
// meets that KeyValue at depth 99 (3*33, the attribute's KeyValue at 0),
// under the limit, and accepts it; pdata's encoder then writes the empty
// value, an AnyValue at depth 100, which the next decoder refuses.
func keyValueWithoutValueAtTheLimit() []byte {
	v := pbMapOf(pbKeyValue("bottom", nil))
	for range 32 {
		v = pbMapOf(pbKeyValue("k", v))
	}
	return pbKeyValue("deep", v)
}

// TestProtobufAcceptedAtTheLimitButNotSendable pins the off-by-one between
// pdata's protobuf decoder and its encoder: a body the decoder accepts at
// exactly the limit re-encodes into one the next decoder refuses. otlpuds
// refuses that span and delivers the others.
func TestProtobufAcceptedAtTheLimitButNotSendable(t *testing.T) {
	body := pbTraces(pbSpan("poison", keyValueWithoutValueAtTheLimit()), pbSpan("good-1"), pbSpan("good-2"))

	req := ptraceotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(body), "pdata's decoder accepts the body")
	again, err := req.MarshalProto()
	require.NoError(t, err)
	require.ErrorContains(t, ptraceotlp.NewExportRequest().UnmarshalProto(again), errRecursionDepth,
		"what pdata re-encodes from it is refused by the next pdata decoder")

	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	tr := ptraceotlp.NewExportResponse()
	require.NoError(t, tr.UnmarshalProto(respBody))
	assert.Equal(t, int64(1), tr.PartialSuccess().RejectedSpans())
	assert.Contains(t, tr.PartialSuccess().ErrorMessage(), `span attribute "deep"`)
	require.Len(t, ts.AllTraces(), 1)
	assert.Equal(t, []string{"good-1", "good-2"}, spanNames(ts.AllTraces()[0]))
	requireSendable(t, ts.AllTraces()[0])
}

// TestTooDeepProtobufIsRefusedByPdata: in protobuf, a value past the limit
// does not decode at all, so the request is a 400 with pdata's error, as
// before (the good spans in it go too: the body cannot be read).
func TestTooDeepProtobufIsRefusedByPdata(t *testing.T) {
	body := pbTraces(pbSpan("good"), pbSpan("poison", pbKeyValue("deep", pbArraysAround(pbString("x"), 150))))
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, decodeStatus(t, encodingProtobuf, respBody).GetMessage(), errRecursionDepth)
	assert.Empty(t, ts.AllTraces())
}

func spanNames(td ptrace.Traces) []string {
	var names []string
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				names = append(names, s.Name())
			}
		}
	}
	return names
}

// requireSendable checks that td survives what a destination does to it:
// pdata's protobuf encoding, then decoding.
func requireSendable(t *testing.T, td ptrace.Traces) {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	back := ptraceotlp.NewExportRequest()
	require.NoError(t, back.UnmarshalProto(b))
	assert.Equal(t, td, back.Traces())
}

// tracesWithDeepSpan is good spans (named good-i) and, after the first, a
// span named poison whose attribute "deep" holds n nested arrays.
func tracesWithDeepSpan(good, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range good {
		s := ss.Spans().AppendEmpty()
		s.SetName(fmt.Sprintf("good-%d", i))
		s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		s.Attributes().PutStr("tenant", "well-behaved")
		if i == 0 {
			p := ss.Spans().AppendEmpty()
			p.SetName("poison")
			p.SetTraceID(pcommon.TraceID{9, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			p.SetSpanID(pcommon.SpanID{9, 2, 3, 4, 5, 6, 7, 8})
			p.Attributes().PutStr("tenant", "other")
			nest(p.Attributes().PutEmpty("deep"), n, "a", leafString)
		}
	}
	return td
}

// TestTooDeepJSONSpanIsRejectedOthersDelivered is the case: a JSON
// request whose span holds an attribute nested 150 deep, among good spans,
// is a 200 partial success with that span rejected and a message saying
// why; the good spans reach the pipeline, and what reaches it survives
// pdata's protobuf encoding.
func TestTooDeepJSONSpanIsRejectedOthersDelivered(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)

	body, err := ptraceotlp.NewExportRequestFromTraces(tracesWithDeepSpan(3, 150)).MarshalJSON()
	require.NoError(t, err)
	t.Logf("JSON body: %d bytes", len(body))
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	tr := ptraceotlp.NewExportResponse()
	require.NoError(t, tr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(1), tr.PartialSuccess().RejectedSpans())
	assert.Equal(t, `rejected 1 span holding a value nested deeper than the 100 levels pdata's protobuf decoder accepts (first in a span attribute "deep"): a protobuf destination would refuse the whole batch`,
		tr.PartialSuccess().ErrorMessage())

	require.Len(t, ts.AllTraces(), 1)
	assert.Equal(t, []string{"good-0", "good-1", "good-2"}, spanNames(ts.AllTraces()[0]))
	requireSendable(t, ts.AllTraces()[0])

	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
}

// TestSpanAtTheLimitPasses: the deepest nesting pdata's protobuf decoder
// takes (49 arrays in an attribute: its innermost value is a message at
// depth 99) is accepted whole, in JSON and protobuf, and survives protobuf
// encoding; one array more is rejected.
func TestSpanAtTheLimitPasses(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	for _, enc := range []encoding{encodingJSON, encodingProtobuf} {
		t.Run(enc.format(), func(t *testing.T) {
			ts.Reset()
			td := tracesWithDeepSpan(2, 49)
			body, err := enc.marshal(ptraceotlp.NewExportRequestFromTraces(td))
			require.NoError(t, err)
			resp, respBody := post(t, r.client, pathTraces, body, ctHeader(enc))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
			tr := ptraceotlp.NewExportResponse()
			require.NoError(t, enc.unmarshal(tr, respBody))
			assert.Zero(t, tr.PartialSuccess().RejectedSpans())
			assert.Empty(t, tr.PartialSuccess().ErrorMessage())
			require.Len(t, ts.AllTraces(), 1)
			assert.Equal(t, td, ts.AllTraces()[0])
			requireSendable(t, ts.AllTraces()[0])
		})
	}
	t.Run("one more level", func(t *testing.T) {
		ts.Reset()
		body, err := ptraceotlp.NewExportRequestFromTraces(tracesWithDeepSpan(2, 50)).MarshalJSON()
		require.NoError(t, err)
		resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
		tr := ptraceotlp.NewExportResponse()
		require.NoError(t, tr.UnmarshalJSON(respBody))
		assert.Equal(t, int64(1), tr.PartialSuccess().RejectedSpans())
		require.Len(t, ts.AllTraces(), 1)
		assert.Equal(t, []string{"good-0", "good-1"}, spanNames(ts.AllTraces()[0]))
	})
}

// TestAllTooDeepIs400: when every item is rejected nothing reaches the
// pipeline and the answer is 400 with the reason, in the request's
// encoding; the items count as refused.
func TestAllTooDeepIs400(t *testing.T) {
	cons, ts, ms, ls := sinks()
	r := startReceiver(t, testConfig(t), cons)

	td, _, ss, s := newSpan()
	nest(s.Attributes().PutEmpty("deep"), 150, "a", leafString)
	nest(ss.Spans().AppendEmpty().Attributes().PutEmpty("deep.too"), 60, "m", leafString)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	require.NoError(t, err)
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Retry-After"))
	st := decodeStatus(t, encodingJSON, respBody)
	assert.Equal(t, `rejected 2 spans holding a value nested deeper than the 100 levels pdata's protobuf decoder accepts (first in a span attribute "deep"): a protobuf destination would refuse the whole batch`, st.GetMessage())
	assert.Empty(t, ts.AllTraces())
	assert.Equal(t, int64(2), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
	assert.Zero(t, counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))

	md, _, _, m := newMetric(pmetric.MetricTypeGauge)
	nest(m.Gauge().DataPoints().At(0).Attributes().PutEmpty("deep"), 150, "a", leafString)
	body, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathMetrics, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, decodeStatus(t, encodingJSON, respBody).GetMessage(), `rejected 1 data point holding`)
	assert.Empty(t, ms.AllMetrics())
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_receiver_refused_metric_points", "", ""))

	ld, _, _, lr := newLogRecord()
	nest(lr.Body(), 150, "m", leafString)
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathLogs, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, decodeStatus(t, encodingJSON, respBody).GetMessage(), `rejected 1 log record holding`)
	assert.Contains(t, decodeStatus(t, encodingJSON, respBody).GetMessage(), `(first in a log record body)`)
	assert.Empty(t, ls.AllLogs())
	assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_receiver_refused_log_records", "", ""))
}

// TestTooDeepInEveryLocationOverHTTP sends, for every location a value can
// sit in, a JSON request with a good item under a resource of its own and
// one item whose value at that location is nested 150 deep: the answer is
// a partial success rejecting that item, naming the location, and the good
// item reaches the pipeline.
func TestTooDeepInEveryLocationOverHTTP(t *testing.T) {
	cons, ts, ms, ls := sinks()
	r := startReceiver(t, testConfig(t), cons)
	for _, loc := range locations {
		t.Run(loc.name, func(t *testing.T) {
			ts.Reset()
			ms.Reset()
			ls.Reset()
			p := loc.build(func(v pcommon.Value) { nest(v, 150, "ma", leafString) })
			var (
				path      string
				body      []byte
				err       error
				rejected  func([]byte) int64
				delivered func() int
			)
			switch data := p.data.(type) {
			case ptrace.Traces:
				td, _, _, _ := newSpan()
				data.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				path, delivered = pathTraces, ts.SpanCount
				body, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
				rejected = func(b []byte) int64 {
					resp := ptraceotlp.NewExportResponse()
					require.NoError(t, resp.UnmarshalJSON(b))
					return resp.PartialSuccess().RejectedSpans()
				}
			case pmetric.Metrics:
				md, _, _, _ := newMetric(pmetric.MetricTypeSum)
				data.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
				path, delivered = pathMetrics, ms.DataPointCount
				body, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
				rejected = func(b []byte) int64 {
					resp := pmetricotlp.NewExportResponse()
					require.NoError(t, resp.UnmarshalJSON(b))
					return resp.PartialSuccess().RejectedDataPoints()
				}
			case plog.Logs:
				ld, _, _, _ := newLogRecord()
				data.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
				path, delivered = pathLogs, ls.LogRecordCount
				body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
				rejected = func(b []byte) int64 {
					resp := plogotlp.NewExportResponse()
					require.NoError(t, resp.UnmarshalJSON(b))
					return resp.PartialSuccess().RejectedLogRecords()
				}
			}
			require.NoError(t, err)
			resp, respBody := post(t, r.client, path, body, ctHeader(encodingJSON))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
			assert.Equal(t, int64(1), rejected(respBody))
			assert.Contains(t, string(respBody), "first in a "+loc.where)
			assert.Equal(t, 1, delivered())
		})
	}
}

// TestTooDeepResourceOrScopeRejectsAllItsItems: a resource or a scope
// holding a value too deep spoils every item under it; the other resources'
// and scopes' items are delivered. Shown on traces, metrics and logs.
func TestTooDeepResourceOrScopeRejectsAllItsItems(t *testing.T) {
	cons, ts, ms, ls := sinks()
	r := startReceiver(t, testConfig(t), cons)

	// Traces: resource A (good) with 2 spans; resource B (deep) with 3
	// spans in two scopes; resource C with a deep scope of 4 spans and a
	// good scope of 1.
	td := ptrace.NewTraces()
	addSpans := func(ss ptrace.ScopeSpans, n int) {
		for range n {
			ss.Spans().AppendEmpty().SetName("s")
		}
	}
	a := td.ResourceSpans().AppendEmpty()
	addSpans(a.ScopeSpans().AppendEmpty(), 2)
	b := td.ResourceSpans().AppendEmpty()
	nest(b.Resource().Attributes().PutEmpty("deep.resource"), 40, "m", leafString)
	addSpans(b.ScopeSpans().AppendEmpty(), 1)
	addSpans(b.ScopeSpans().AppendEmpty(), 2)
	c := td.ResourceSpans().AppendEmpty()
	deepScope := c.ScopeSpans().AppendEmpty()
	nest(deepScope.Scope().Attributes().PutEmpty("deep.scope"), 60, "a", leafEmptyMap)
	addSpans(deepScope, 4)
	addSpans(c.ScopeSpans().AppendEmpty(), 1)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	require.NoError(t, err)
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	tr := ptraceotlp.NewExportResponse()
	require.NoError(t, tr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(7), tr.PartialSuccess().RejectedSpans())
	assert.Contains(t, tr.PartialSuccess().ErrorMessage(), `rejected 7 spans holding`)
	assert.Contains(t, tr.PartialSuccess().ErrorMessage(), `(first in a resource attribute "deep.resource")`)
	require.Len(t, ts.AllTraces(), 1)
	got := ts.AllTraces()[0]
	assert.Equal(t, 3, got.SpanCount())
	assert.Equal(t, 2, got.ResourceSpans().Len(), "resource B is gone")
	assert.Equal(t, 1, got.ResourceSpans().At(1).ScopeSpans().Len(), "C's deep scope is gone")
	assert.Equal(t, int64(7), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))

	// Metrics: one resource, a good scope and a deep one of all types.
	md := testdata.GenerateMetricsAllTypes()
	good := md.DataPointCount()
	deepMetrics := testdata.GenerateMetricsAllTypes()
	sm := deepMetrics.ResourceMetrics().At(0).ScopeMetrics().At(0)
	nest(sm.Scope().Attributes().PutEmpty("deep.scope"), 150, "a", leafString)
	sm.MoveTo(md.ResourceMetrics().At(0).ScopeMetrics().AppendEmpty())
	body, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathMetrics, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	mr := pmetricotlp.NewExportResponse()
	require.NoError(t, mr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(good), mr.PartialSuccess().RejectedDataPoints())
	require.Len(t, ms.AllMetrics(), 1)
	assert.Equal(t, good, ms.AllMetrics()[0].DataPointCount())
	assert.Equal(t, 1, ms.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().Len())
	assert.Equal(t, int64(good), counter(t, r.tt, "otelcol_receiver_refused_metric_points", "", ""))

	// Logs: a deep resource among good ones.
	ld := testdata.GenerateLogs(3)
	deepLogs := testdata.GenerateLogs(5)
	nest(deepLogs.ResourceLogs().At(0).Resource().Attributes().PutEmpty("deep.resource"), 150, "a", leafString)
	deepLogs.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathLogs, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	lr := plogotlp.NewExportResponse()
	require.NoError(t, lr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(5), lr.PartialSuccess().RejectedLogRecords())
	require.Len(t, ls.AllLogs(), 1)
	assert.Equal(t, 3, ls.AllLogs()[0].LogRecordCount())
	assert.Equal(t, int64(5), counter(t, r.tt, "otelcol_receiver_refused_log_records", "", ""))
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_accepted_log_records", "", ""))
}

// TestTooDeepMetricsAndLogsItems: in metrics and logs, only the data points
// and log records holding a value too deep go; their neighbours in the same
// metric or scope are delivered.
func TestTooDeepMetricsAndLogsItems(t *testing.T) {
	cons, _, ms, ls := sinks()
	r := startReceiver(t, testConfig(t), cons)

	// A sum of 4 points: one with a deep attribute, one with a deep
	// exemplar; a histogram of 2 points, one with a deep exemplar.
	md, _, sm, m := newMetric(pmetric.MetricTypeSum)
	dps := m.Sum().DataPoints()
	for range 3 {
		dps.AppendEmpty().SetIntValue(2)
	}
	nest(dps.At(1).Attributes().PutEmpty("deep.point"), 150, "a", leafString)
	nest(dps.At(2).Exemplars().AppendEmpty().FilteredAttributes().PutEmpty("deep.exemplar"), 150, "m", leafString)
	h := sm.Metrics().AppendEmpty()
	h.SetName("h")
	hdps := h.SetEmptyHistogram().DataPoints()
	hdps.AppendEmpty().SetCount(1)
	nest(hdps.AppendEmpty().Exemplars().AppendEmpty().FilteredAttributes().PutEmpty("deep.exemplar"), 150, "m", leafString)
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	require.NoError(t, err)
	resp, respBody := post(t, r.client, pathMetrics, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	mr := pmetricotlp.NewExportResponse()
	require.NoError(t, mr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(3), mr.PartialSuccess().RejectedDataPoints())
	assert.Contains(t, mr.PartialSuccess().ErrorMessage(), `rejected 3 data points holding`)
	assert.Contains(t, mr.PartialSuccess().ErrorMessage(), `(first in a data point attribute "deep.point")`)
	require.Len(t, ms.AllMetrics(), 1)
	got := ms.AllMetrics()[0]
	assert.Equal(t, 3, got.DataPointCount())
	gotMetrics := got.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	assert.Equal(t, 2, gotMetrics.At(0).Sum().DataPoints().Len())
	assert.Equal(t, 1, gotMetrics.At(1).Histogram().DataPoints().Len())

	// Logs: 3 records, one deep body, one deep attribute.
	ld, _, sl, lr := newLogRecord()
	lr.Body().SetStr("fine")
	nest(sl.LogRecords().AppendEmpty().Body(), 150, "m", leafString)
	nest(sl.LogRecords().AppendEmpty().Attributes().PutEmpty("deep.attr"), 150, "a", leafString)
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathLogs, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	lresp := plogotlp.NewExportResponse()
	require.NoError(t, lresp.UnmarshalJSON(respBody))
	assert.Equal(t, int64(2), lresp.PartialSuccess().RejectedLogRecords())
	assert.Contains(t, lresp.PartialSuccess().ErrorMessage(), `(first in a log record body)`)
	require.Len(t, ls.AllLogs(), 1)
	assert.Equal(t, 1, ls.AllLogs()[0].LogRecordCount())
	assert.Equal(t, "fine", ls.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
}

// TestTooDeepAddsToPipelinePartialSuccess: when the pipeline also rejects
// part of what is left, the answer counts both and gives both reasons.
func TestTooDeepAddsToPipelinePartialSuccess(t *testing.T) {
	rejectFirstResource, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		failed := ptrace.NewTraces()
		td.ResourceSpans().At(0).CopyTo(failed.ResourceSpans().AppendEmpty())
		return consumererror.NewPermanent(consumererror.NewTraces(errors.New("destination rejected some spans"), failed))
	})
	require.NoError(t, err)
	r := startReceiver(t, testConfig(t), consumers{traces: rejectFirstResource})

	td := tracesWithDeepSpan(2, 150)                                               // resource 1: 2 good spans, 1 deep
	testdata.GenerateTraces(3).ResourceSpans().MoveAndAppendTo(td.ResourceSpans()) // resource 2: 3 good spans
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	require.NoError(t, err)
	resp, respBody := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
	tr := ptraceotlp.NewExportResponse()
	require.NoError(t, tr.UnmarshalJSON(respBody))
	assert.Equal(t, int64(3), tr.PartialSuccess().RejectedSpans())
	assert.Contains(t, tr.PartialSuccess().ErrorMessage(), "rejected 1 span holding a value nested deeper")
	assert.Contains(t, tr.PartialSuccess().ErrorMessage(), "; Permanent error: destination rejected some spans")
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
}

// TestTooDeepThenPipelineRefusal: the pipeline's refusal of the rest is
// answered as before (503 + Retry-After here); the client's retry will
// have the deep span rejected again.
func TestTooDeepThenPipelineRefusal(t *testing.T) {
	r := startReceiver(t, testConfig(t), consumers{traces: consumertest.NewErr(errors.New("data refused due to high memory usage"))})
	body, err := ptraceotlp.NewExportRequestFromTraces(tracesWithDeepSpan(2, 150)).MarshalJSON()
	require.NoError(t, err)
	resp, _ := post(t, r.client, pathTraces, body, ctHeader(encodingJSON))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, int64(3), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
}

// TestDropTooDeepAllocatesNothing: the walk over data holding no value too
// deep allocates nothing: the benchmark request, and every metric type
// and log shape of pdata's test data, with nested (but not too deep)
// values added.
func TestDropTooDeepAllocatesNothing(t *testing.T) {
	td := benchTraces()
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	nest(span.Attributes().PutEmpty("nested"), 30, "ma", leafString)
	nest(span.Events().AppendEmpty().Attributes().PutEmpty("nested"), 10, "a", leafEmptyMap)
	nest(span.Links().AppendEmpty().Attributes().PutEmpty("nested"), 10, "m", leafEmptyArray)
	md := testdata.GenerateMetricsAllTypes()
	nest(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Metadata().PutEmpty("nested"), 20, "am", leafString)
	ld := testdata.GenerateLogs(5)
	nest(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body(), 33, "m", leafString)

	spans, points, records := td.SpanCount(), md.DataPointCount(), ld.LogRecordCount()
	allocs := testing.AllocsPerRun(50, func() {
		if dropTooDeep(td).removals+dropTooDeep(md).removals+dropTooDeep(ld).removals != 0 {
			t.Fatal("removed something")
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, spans, td.SpanCount())
	assert.Equal(t, points, md.DataPointCount())
	assert.Equal(t, records, ld.LogRecordCount())
}

// TestTooDeepMessageQuotesKeySafely: a long or non-UTF-8 key is cut and
// quoted, so the message stays short and valid.
func TestTooDeepMessageQuotesKeySafely(t *testing.T) {
	td, _, _, s := newSpan()
	nest(s.Attributes().PutEmpty(strings.Repeat("k", 300)+"\xff"), 150, "a", leafString)
	msg := dropTooDeep(td).message("spans")
	assert.Contains(t, msg, `(first in a span attribute "`+strings.Repeat("k", maxQuotedKey)+`...")`)
	assert.Less(t, len(msg), 300)
}

// BenchmarkDropTooDeep is the walk's cost per request on
// BenchmarkReceiveTraces's request (1000 spans of 10 attributes), which
// holds nothing too deep.
func BenchmarkDropTooDeep(b *testing.B) {
	td := benchTraces()
	b.ReportAllocs()
	for b.Loop() {
		if dropTooDeep(td).removals != 0 {
			b.Fatal("removed something")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSpansPerRequest), "ns/span")
}

// FuzzDropTooDeepMatchesPdata decodes arbitrary bodies, JSON or protobuf,
// as traces and as logs (attributes start at depth 1, log bodies at 0).
// Whatever decodes: after dropTooDeep, pdata's protobuf encoding of the
// rest decodes again (nothing unsendable is let through), and when the
// whole request already did, nothing was removed (nothing sendable is
// refused).
func FuzzDropTooDeepMatchesPdata(f *testing.F) {
	for _, n := range []int{0, 16, 32, 33, 49, 50, 150} {
		for _, kinds := range []string{"a", "m", "am"} {
			td := tracesWithDeepSpan(1, n)
			nest(td.ResourceSpans().At(0).Resource().Attributes().PutEmpty("r"), n/2, kinds, leafEmptyMap)
			b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
			require.NoError(f, err)
			f.Add(b, true)
			ld, _, _, lr := newLogRecord()
			nest(lr.Body(), n, kinds, leafEmptyArray)
			b, err = plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
			require.NoError(f, err)
			f.Add(b, true)
			b, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
			if err == nil {
				f.Add(b, false)
			}
		}
	}
	f.Add(pbTraces(pbSpan("poison", keyValueWithoutValueAtTheLimit()), pbSpan("good")), false)

	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		enc := encodingProtobuf
		if asJSON {
			enc = encodingJSON
		}
		treq := ptraceotlp.NewExportRequest()
		if enc.unmarshal(treq, body) == nil {
			checkDropTooDeep(t, tracesProbe(treq.Traces()))
		}
		lreq := plogotlp.NewExportRequest()
		if enc.unmarshal(lreq, body) == nil {
			checkDropTooDeep(t, logsProbe(lreq.Logs()))
		}
	})
}

func checkDropTooDeep(t *testing.T, p probe) {
	sendable := p.roundTrip() == nil
	before := p.count()
	res := p.drop()
	require.NoError(t, p.roundTrip(), "what is left after dropTooDeep must survive protobuf")
	if sendable {
		require.Zero(t, res.removals, "a sendable request must keep everything")
	}
	require.Equal(t, before, p.count()+res.items)
}

// startStockOTLPTo starts the stock otlp receiver, HTTP on a unix socket,
// feeding next: a pdata-based destination, as a collector behind otlphttp
// is.
func startStockOTLPTo(t *testing.T, path string, next consumer.Traces) {
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	cm := confmap.NewFromStringMap(map[string]any{
		"protocols": map[string]any{
			"http": map[string]any{"endpoint": path, "transport": "unix"},
		},
	})
	require.NoError(t, cm.Unmarshal(cfg))
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
}

// TestPoisonNoLongerSpoilsOtherTenantsBatch is the loss, end to
// end: a well-behaved tenant's request and a request with a span nested
// 150 deep go through otlpuds, what it accepted is merged into one batch
// (as the batch processor does) and sent as protobuf to the stock otlp
// receiver. The destination takes the whole batch. Without the check (the
// same two requests decoded as pdata decodes them), it answers 400 for the
// whole batch, the well-behaved tenant's spans with it.
func TestPoisonNoLongerSpoilsOtherTenantsBatch(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	dest := new(consumertest.TracesSink)
	destPath := filepath.Join(shortTempDir(t), "dest.sock")
	startStockOTLPTo(t, destPath, dest)
	destClient := udsClient(t, destPath)

	wellBehaved, err := ptraceotlp.NewExportRequestFromTraces(tracesWithDeepSpan(5, 0)).MarshalJSON()
	require.NoError(t, err)
	wellBehaved = []byte(strings.Replace(string(wellBehaved), `"poison"`, `"good-extra"`, 1)) // no deep value: 6 spans
	poisoned, err := ptraceotlp.NewExportRequestFromTraces(tracesWithDeepSpan(1, 150)).MarshalJSON()
	require.NoError(t, err)

	batch := func(bodies ...[]byte) []byte {
		merged := ptrace.NewTraces()
		for _, b := range bodies {
			req := ptraceotlp.NewExportRequest()
			require.NoError(t, req.UnmarshalJSON(b))
			req.Traces().ResourceSpans().MoveAndAppendTo(merged.ResourceSpans())
		}
		out, err := ptraceotlp.NewExportRequestFromTraces(merged).MarshalProto()
		require.NoError(t, err)
		return out
	}

	// Without the check: the destination refuses the whole batch.
	resp, body := post(t, destClient, pathTraces, batch(wellBehaved, poisoned), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), errRecursionDepth)
	assert.Zero(t, dest.SpanCount())

	// Through otlpuds: the poisoned span is rejected at the door.
	for _, b := range [][]byte{wellBehaved, poisoned} {
		resp, body := post(t, r.client, pathTraces, b, ctHeader(encodingJSON))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}
	var accepted [][]byte
	for _, td := range ts.AllTraces() {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		require.NoError(t, err)
		accepted = append(accepted, b)
	}
	resp, body = post(t, destClient, pathTraces, batch(accepted...), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, 7, dest.SpanCount(), "all 6 well-behaved spans and the poisoned request's good one")
}
