package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

type tracesProcessor struct {
	header string
	router *router
	tel    *routingTelemetry
}

func newTracesProcessor(set processor.Settings, cfg *Config) (*tracesProcessor, error) {
	tel, err := newRoutingTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{
		header: cfg.Header,
		router: newRouter(cfg),
		tel:    tel,
	}, nil
}

func (p *tracesProcessor) shutdown(context.Context) error {
	p.tel.shutdown()
	return nil
}

// processTraces routes one request. Every copy goes downstream in the one
// ptrace.Traces it returns; when nothing is left it returns
// ErrSkipProcessingData, so the next consumer is not called and the sender
// sees no error.
func (p *tracesProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	n := rss.Len()
	req := request{p: p, ctx: ctx}
	var routesBuf [16]*route
	routes := routesBuf[:0]
	copies, moveOnly := 0, true
	for i := range n {
		rt := req.resolve(rss.At(i).Resource().Attributes())
		routes = append(routes, rt)
		copies += len(rt.destinations)
		moveOnly = moveOnly && len(rt.destinations) == 1
	}

	var t tally
	defer func() { p.tel.record(ctx, &t) }()

	if moveOnly && n > 0 {
		// Fast path: one destination per resource, stamp in place, no copy.
		for i := range n {
			rs := rss.At(i)
			rt := routes[i]
			t.count(rt, spanCount(rs))
			attrs := rs.Resource().Attributes()
			attrs.Remove(attrTraceConfig)
			stamp(attrs, rt, rt.destinations[0])
		}
		return td, nil
	}

	out := ptrace.NewTraces()
	outRSS := out.ResourceSpans()
	outRSS.EnsureCapacity(copies)
	for i := range n {
		rs := rss.At(i)
		rt := routes[i]
		t.count(rt, spanCount(rs))
		last := len(rt.destinations) - 1
		if last < 0 {
			continue
		}
		// Remove the raw config once, before copying it len-1 times.
		rs.Resource().Attributes().Remove(attrTraceConfig)
		for _, dest := range rt.destinations[:last] {
			c := outRSS.AppendEmpty()
			rs.CopyTo(c)
			stamp(c.Resource().Attributes(), rt, dest)
		}
		c := outRSS.AppendEmpty()
		rs.MoveTo(c)
		stamp(c.Resource().Attributes(), rt, rt.destinations[last])
	}
	if copies == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return out, nil
}

// request holds what is computed once per request: the header's route, and
// the route of each distinct trace.config attribute value.
type request struct {
	p          *tracesProcessor
	ctx        context.Context
	header     *route
	attrRoutes map[string]*route
}

// resolve returns the route of one resource: its trace.config attribute when
// it has a non-empty one (an attribute that is not a string is invalid), else
// the request's header.
func (r *request) resolve(attrs pcommon.Map) *route {
	if v, ok := attrs.Get(attrTraceConfig); ok {
		if v.Type() != pcommon.ValueTypeStr {
			return &r.p.router.invalid
		}
		if raw := v.Str(); strings.TrimSpace(raw) != "" {
			return r.attrRoute(raw)
		}
	}
	return r.headerRoute()
}

func (r *request) attrRoute(raw string) *route {
	if rt, ok := r.attrRoutes[raw]; ok {
		return rt
	}
	rt := r.p.router.routeFor(raw)
	if r.attrRoutes == nil {
		r.attrRoutes = make(map[string]*route)
	}
	r.attrRoutes[raw] = rt
	return rt
}

// headerRoute parses the header at most once per request. No value, or an
// empty one, is missing; several values are invalid (ambiguous).
func (r *request) headerRoute() *route {
	if r.header != nil {
		return r.header
	}
	vals := client.FromContext(r.ctx).Metadata.Get(r.p.header)
	switch {
	case len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == ""):
		r.header = &r.p.router.missing
	case len(vals) > 1:
		r.header = &r.p.router.invalid
	default:
		r.header = r.p.router.routeFor(vals[0])
	}
	return r.header
}

func spanCount(rs ptrace.ResourceSpans) int64 {
	var n int64
	sss := rs.ScopeSpans()
	for i := range sss.Len() {
		n += int64(sss.At(i).Spans().Len())
	}
	return n
}
