package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Nothing accepted that could not be sent on: pdata's JSON decoder accepts
// values nested to any depth, its protobuf decoder does not. An item holding
// such a value, once merged into a batch and re-encoded as protobuf, makes a
// pdata-based destination (the collector's otlp receiver, a persistent queue
// read back) refuse the whole batch, other tenants' items with it. So the
// items that hold one are taken out of the request here, right after
// decoding, and answered as rejected.

// maxProtoDepth is the nesting limit of pdata's protobuf decoder:
//
//	go.opentelemetry.io/collector/pdata@v1.71.0/internal/proto/unmarshal.go:25
//	const RecursionLimit = 100
//
// Past it the decoder fails with ErrRecursionDepth, "proto: exceeded max
// recursion depth" (same file, line 30). It counts messages, not values:
// KeyValue.UnmarshalProto and AnyValue.UnmarshalProto (the entries of every
// attribute list and a log record's body) start at depth 0, and KeyValue,
// AnyValue, KeyValueList and ArrayValue each refuse to decode at a depth
// >= RecursionLimit and pass depth+1 to what they hold
// (internal/generated_proto_{keyvalue,anyvalue,keyvaluelist,arrayvalue}.go).
// So, for a message at depth d:
//
//   - an attribute's KeyValue is at 0 and its AnyValue at 1; a log body's
//     AnyValue is at 0;
//   - a map value (AnyValue at d) holds a KeyValueList at d+1, whose entries
//     are KeyValues at d+2 holding AnyValues at d+3;
//   - an array value (AnyValue at d) holds an ArrayValue at d+1, whose
//     elements are AnyValues at d+2.
//
// pdata's encoder always writes a KeyValue's value, even an empty one, and
// an empty map or array as an empty message, so each of those is decoded,
// and depth-checked, downstream even when the bytes received here had left
// it out. The rule below follows the encoder's output, i.e. what a
// destination will decode, not the bytes received.
const maxProtoDepth = 100

// Depths at which pdata's protobuf decoder enters the AnyValue of an
// attribute and of a log record's body.
const (
	attrValueDepth = 1
	bodyDepth      = 0
)

// valueTooDeep reports whether v, an AnyValue the protobuf decoder would
// enter at depth d, holds a message at depth maxProtoDepth or more. It stops
// at the first one, so it never descends past the limit however deep v goes.
func valueTooDeep(v pcommon.Value, d int) bool {
	if d >= maxProtoDepth {
		return true
	}
	switch v.Type() {
	case pcommon.ValueTypeMap:
		if d+1 >= maxProtoDepth { // the KeyValueList, even when empty
			return true
		}
		for _, ev := range v.Map().All() {
			if valueTooDeep(ev, d+3) { // KeyValue at d+2, its AnyValue at d+3
				return true
			}
		}
	case pcommon.ValueTypeSlice:
		if d+1 >= maxProtoDepth { // the ArrayValue, even when empty
			return true
		}
		s := v.Slice()
		for i := range s.Len() {
			if valueTooDeep(s.At(i), d+2) {
				return true
			}
		}
	default:
	}
	return false
}

// deepAt says where a value too deep was found: the kind of place ("span
// attribute", "log record body", ...) and, for an attribute, its key.
type deepAt struct {
	where string
	key   string
}

// attrsTooDeep returns the key of the first attribute of m whose value is
// too deep.
func attrsTooDeep(m pcommon.Map) (string, bool) {
	for k, v := range m.All() {
		if valueTooDeep(v, attrValueDepth) {
			return k, true
		}
	}
	return "", false
}

// deepResult is what dropTooDeep took out of a request.
type deepResult struct {
	// items is the number of items (spans, data points, log records)
	// removed.
	items int
	// removals counts every removal, items and the resources, scopes or
	// metrics removed with them or left empty by them.
	removals int
	// first is where the first value too deep was found.
	first deepAt
	// msg is the reason given for the items, set by refuseTooDeep.
	msg string
}

// found records n items removed because of a value too deep at where/key.
func (d *deepResult) found(n int, where, key string) {
	if d.removals == 0 {
		d.first = deepAt{where: where, key: key}
	}
	d.items += n
	d.removals++
}

// dropTooDeep removes from data, a freshly decoded request of any signal,
// the items that hold a value nested deeper than maxProtoDepth, and the
// items under a resource or scope (or, for metrics, a metric's metadata)
// that holds one. Containers it leaves empty are removed too; those that
// came empty are kept. For data with no such value it walks every attribute
// once and allocates nothing.
func dropTooDeep[D any](data D) deepResult {
	switch d := any(data).(type) {
	case ptrace.Traces:
		return dropTooDeepSpans(d)
	case pmetric.Metrics:
		return dropTooDeepDataPoints(d)
	case plog.Logs:
		return dropTooDeepLogRecords(d)
	default:
		return deepResult{}
	}
}

func dropTooDeepSpans(td ptrace.Traces) deepResult {
	var res deepResult
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if k, deep := attrsTooDeep(rs.Resource().Attributes()); deep {
			n := 0
			for _, ss := range rs.ScopeSpans().All() {
				n += ss.Spans().Len()
			}
			res.found(n, "resource attribute", k)
			return true
		}
		before := res.removals
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			if k, deep := attrsTooDeep(ss.Scope().Attributes()); deep {
				res.found(ss.Spans().Len(), "scope attribute", k)
				return true
			}
			before := res.removals
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				at, deep := spanTooDeep(s)
				if deep {
					res.found(1, at.where, at.key)
				}
				return deep
			})
			return res.removals > before && ss.Spans().Len() == 0
		})
		return res.removals > before && rs.ScopeSpans().Len() == 0
	})
	return res
}

// spanTooDeep looks in a span's attributes, its events' and its links'.
func spanTooDeep(s ptrace.Span) (deepAt, bool) {
	if k, deep := attrsTooDeep(s.Attributes()); deep {
		return deepAt{"span attribute", k}, true
	}
	events := s.Events()
	for i := range events.Len() {
		if k, deep := attrsTooDeep(events.At(i).Attributes()); deep {
			return deepAt{"span event attribute", k}, true
		}
	}
	links := s.Links()
	for i := range links.Len() {
		if k, deep := attrsTooDeep(links.At(i).Attributes()); deep {
			return deepAt{"span link attribute", k}, true
		}
	}
	return deepAt{}, false
}

func dropTooDeepDataPoints(md pmetric.Metrics) deepResult {
	var res deepResult
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		if k, deep := attrsTooDeep(rm.Resource().Attributes()); deep {
			n := 0
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					n += dataPointCount(m)
				}
			}
			res.found(n, "resource attribute", k)
			return true
		}
		before := res.removals
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			if k, deep := attrsTooDeep(sm.Scope().Attributes()); deep {
				n := 0
				for _, m := range sm.Metrics().All() {
					n += dataPointCount(m)
				}
				res.found(n, "scope attribute", k)
				return true
			}
			before := res.removals
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if k, deep := attrsTooDeep(m.Metadata()); deep {
					res.found(dataPointCount(m), "metric metadata", k)
					return true
				}
				before := res.removals
				dropTooDeepInMetric(m, &res)
				return res.removals > before && dataPointCount(m) == 0
			})
			return res.removals > before && sm.Metrics().Len() == 0
		})
		return res.removals > before && rm.ScopeMetrics().Len() == 0
	})
	return res
}

// dataPointCount is the number of data points of one metric, counted as
// pmetric.Metrics.DataPointCount counts them.
func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	default:
		return 0
	}
}

// dropTooDeepInMetric removes the data points of m whose attributes, or
// whose exemplars' filtered attributes, hold a value too deep.
func dropTooDeepInMetric(m pmetric.Metric, res *deepResult) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			return pointTooDeep(res, dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			return pointTooDeep(res, dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
			return pointTooDeep(res, dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			return pointTooDeep(res, dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			return pointAttrsTooDeep(res, dp.Attributes())
		})
	default:
	}
}

// pointTooDeep reports, and records in res, whether a data point's
// attributes or its exemplars' filtered attributes hold a value too deep.
func pointTooDeep(res *deepResult, attrs pcommon.Map, exemplars pmetric.ExemplarSlice) bool {
	if pointAttrsTooDeep(res, attrs) {
		return true
	}
	for i := range exemplars.Len() {
		if k, deep := attrsTooDeep(exemplars.At(i).FilteredAttributes()); deep {
			res.found(1, "exemplar filtered attribute", k)
			return true
		}
	}
	return false
}

// pointAttrsTooDeep is pointTooDeep for a data point without exemplars
// (a summary's).
func pointAttrsTooDeep(res *deepResult, attrs pcommon.Map) bool {
	if k, deep := attrsTooDeep(attrs); deep {
		res.found(1, "data point attribute", k)
		return true
	}
	return false
}

func dropTooDeepLogRecords(ld plog.Logs) deepResult {
	var res deepResult
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		if k, deep := attrsTooDeep(rl.Resource().Attributes()); deep {
			n := 0
			for _, sl := range rl.ScopeLogs().All() {
				n += sl.LogRecords().Len()
			}
			res.found(n, "resource attribute", k)
			return true
		}
		before := res.removals
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			if k, deep := attrsTooDeep(sl.Scope().Attributes()); deep {
				res.found(sl.LogRecords().Len(), "scope attribute", k)
				return true
			}
			before := res.removals
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if valueTooDeep(lr.Body(), bodyDepth) {
					res.found(1, "log record body", "")
					return true
				}
				if k, deep := attrsTooDeep(lr.Attributes()); deep {
					res.found(1, "log record attribute", k)
					return true
				}
				return false
			})
			return res.removals > before && sl.LogRecords().Len() == 0
		})
		return res.removals > before && rl.ScopeLogs().Len() == 0
	})
	return res
}

// maxQuotedKey bounds how much of an attribute key the message quotes.
const maxQuotedKey = 64

// message says why the items were rejected, naming the limit and where the
// first value too deep was. items is the plural name of the signal's items
// ("spans"), which all end in s.
func (d deepResult) message(items string) string {
	if d.items == 1 {
		items = strings.TrimSuffix(items, "s")
	}
	at := d.first.where
	if d.first.key != "" {
		key := d.first.key
		if len(key) > maxQuotedKey {
			key = key[:maxQuotedKey] + "..."
		}
		at += fmt.Sprintf(" %q", key)
	}
	return fmt.Sprintf("rejected %d %s holding a value nested deeper than the %d levels pdata's protobuf decoder accepts (first in a %s): a protobuf destination would refuse the whole batch",
		d.items, items, maxProtoDepth, at)
}

// addTo merges this result into the rejected count and message of the
// answer to a request the pipeline took (the pipeline's own rejections
// already in rejected and msg).
func (d deepResult) addTo(rejected int, msg string) (int, string) {
	if d.items == 0 {
		return rejected, msg
	}
	if msg == "" {
		return d.items, d.msg
	}
	return rejected + d.items, d.msg + "; " + msg
}

// itemsName is the plural name of the items of data's signal.
func itemsName[D any](data D) string {
	switch any(data).(type) {
	case ptrace.Traces:
		return "spans"
	case pmetric.Metrics:
		return "data points"
	case plog.Logs:
		return "log records"
	default:
		return "items"
	}
}

// refuseTooDeep takes out of data the items holding a value too deep (see
// maxProtoDepth) and records them in the receiver metrics as refused (or
// failed, with the receiverhelper.newReceiverMetrics gate on, as every
// error the receiver raises itself). When no item is left it answers 400
// and returns answered=true; otherwise the caller goes on with the rest and
// adds the result to its answer (deepResult.addTo).
func refuseTooDeep[D any](r *udsReceiver, w http.ResponseWriter, ctx context.Context, enc encoding, s *signal[D], data D) (res deepResult, answered bool) {
	res = dropTooDeep(data)
	if res.removals == 0 {
		return res, false
	}
	res.msg = res.message(itemsName(data))
	if res.items > 0 {
		opCtx := s.startOp(r.obsrep, ctx)
		s.endOp(r.obsrep, opCtx, enc.format(), res.items, consumererror.NewPermanent(errors.New(res.msg)))
	}
	if res.items > 0 && s.count(data) == 0 {
		writeCodeMessage(w, enc, http.StatusBadRequest, res.msg)
		return res, true
	}
	return res, false
}
