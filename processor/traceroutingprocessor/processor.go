package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/tracebound/tracebound/internal/route"
	"github.com/tracebound/tracebound/internal/warnlimit"
)

// Resource attributes read and written by the processor.
const (
	// attrTraceConfig carries a per-resource trace config; it overrides the
	// header and is removed from every resource sent on.
	attrTraceConfig = "trace.config"
	// attrFieldPrefix starts the attribute of every routing field
	// (trace_config.account, ...). The processor owns these keys.
	attrFieldPrefix = "trace_config."
)

type tracesProcessor struct {
	header    string
	router    *router
	decisions *decisionCache
	tel       *routingTelemetry
	warn      *warner
}

func newTracesProcessor(set processor.Settings, cfg *Config) (*tracesProcessor, error) {
	r, err := newRouter(cfg)
	if err != nil {
		return nil, err
	}
	tel, err := newRoutingTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{
		header:    cfg.Header,
		router:    r,
		decisions: newDecisionCache(r),
		tel:       tel,
		warn:      newWarner(set.Logger, cfg.Header, warnlimit.New(warnlimit.DefaultInterval, time.Now)),
	}, nil
}

func (p *tracesProcessor) shutdown(context.Context) error {
	p.tel.shutdown()
	return nil
}

// processTraces stamps every resource of one request with its route and
// trace_config.* fields, in place, removes the resources that go nowhere,
// and folds a resource identical to the one before it into it (merge.go).
// Copies per destination are made by the destinations exporter, which knows
// which names exist. When nothing is left it returns ErrSkipProcessingData,
// so the next consumer is not called and the sender sees no error.
func (p *tracesProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	req := request{p: p, ctx: ctx, header: -1}
	rss := td.ResourceSpans()
	h := head{entry: -1}
	n := rss.Len()
	kept := newKeepSet(n)
	for j := range n {
		rs := rss.At(j)
		s := h.scan(rs.Resource().Attributes())
		i := req.resolve(s)
		e := &req.entries[i]
		e.resources++
		if e.d.route == "" {
			e.spans += spanCount(rs)
			continue
		}
		if h.joins(rs, i, s) {
			h.fold(rs, n-j)
			continue
		}
		stampResource(rs.Resource().Attributes(), e.d)
		req.countHead(&h)
		h.set(rs, i, e.d)
		kept.add(j)
	}
	req.countHead(&h)
	p.tel.record(ctx, req.entries)
	p.warn.entries(req.entries)
	if kept.n == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return kept.apply(td), nil
}

// stampResource removes every attribute the processor owns (the raw trace
// config, any trace_config.* the producer set, any route) and writes the
// decision's. The capacity is reserved once, so stamping costs one slice
// growth per resource, not one per attribute.
func stampResource(attrs pcommon.Map, d *decision) {
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool { return ownedKey(k) })
	attrs.EnsureCapacity(attrs.Len() + len(d.stamps) + 1)
	for _, s := range d.stamps {
		attrs.PutStr(s.key, s.value)
	}
	attrs.PutStr(route.Attribute, d.route)
}

// entry is one decision used in a request and what it carried.
type entry struct {
	d         *decision
	spans     int64
	resources int64
}

// request holds what is computed once per request: the header's decision,
// and the decision of each distinct trace.config attribute value.
type request struct {
	p       *tracesProcessor
	ctx     context.Context
	entries []entry
	header  int            // index in entries; -1 until the header is read
	attrs   map[string]int // trace.config value -> index in entries
	// lastRaw is the trace.config value last resolved, to lastAttr. It is
	// never blank once set, so the zero value matches nothing.
	lastRaw  string
	lastAttr int
}

// countHead adds the spans of the head, with those of every resource that
// joined it, to its entry. It is called once per kept resource, when the
// next one replaces it and at the end, so a resource that joins costs no
// count of its own.
func (r *request) countHead(h *head) {
	if h.entry >= 0 {
		r.entries[h.entry].spans += spanCount(h.rs)
	}
}

func (r *request) add(d *decision) int {
	r.entries = append(r.entries, entry{d: d})
	return len(r.entries) - 1
}

// resolve returns the entry of one resource, scanned as s: its
// trace.config attribute when it has a non-blank one (an attribute that is
// not a string is invalid), else the request's header. The usual case, a
// resource without the attribute once the header is decided, is small
// enough to be inlined into the per-resource loop.
func (r *request) resolve(s scan) int {
	if !s.hasConfig && r.header >= 0 {
		return r.header
	}
	return r.resolveSlow(s)
}

func (r *request) resolveSlow(s scan) int {
	if s.hasConfig {
		if s.config.Type() != pcommon.ValueTypeStr {
			return r.add(r.p.router.invalidDecision(s.config.AsString(), errAttributeType))
		}
		if raw := s.config.Str(); strings.TrimSpace(raw) != "" {
			return r.attr(raw)
		}
	}
	if r.header < 0 {
		r.header = r.add(r.p.headerDecision(r.ctx))
	}
	return r.header
}

// attr returns the entry of a trace.config attribute value. A producer
// that sets it sets it alike on consecutive resources, so the last value is
// compared before the map is hashed.
func (r *request) attr(raw string) int {
	if raw == r.lastRaw {
		return r.lastAttr
	}
	i, ok := r.attrs[raw]
	if !ok {
		i = r.add(r.p.decisions.decide(raw))
		if r.attrs == nil {
			r.attrs = make(map[string]int)
		}
		r.attrs[raw] = i
	}
	r.lastRaw, r.lastAttr = raw, i
	return i
}

// headerDecision decides the request's header. No value, or a blank one, is
// missing; several values are invalid (ambiguous).
func (p *tracesProcessor) headerDecision(ctx context.Context) *decision {
	md := client.FromContext(ctx).Metadata
	vals := md.Get(p.header)
	switch {
	case len(vals) == 0:
		if isEmpty(md) {
			p.warn.noMetadata()
		}
		return p.router.missing
	case len(vals) == 1 && strings.TrimSpace(vals[0]) == "":
		return p.router.missing
	case len(vals) > 1:
		return p.router.invalidDecision(strings.Join(vals, ", "), errSeveralHeaders)
	default:
		return p.decisions.decide(vals[0])
	}
}

func isEmpty(md client.Metadata) bool {
	for range md.Keys() {
		return false
	}
	return true
}

func spanCount(rs ptrace.ResourceSpans) int64 {
	var n int64
	sss := rs.ScopeSpans()
	for i := range sss.Len() {
		n += int64(sss.At(i).Spans().Len())
	}
	return n
}
