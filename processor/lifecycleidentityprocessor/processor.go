package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/metadata"
	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"
)

// Span and link attributes written for the splitter's decisions.
const (
	originTraceIDAttr = "lifecycle.segment.origin_trace_id"
	segmentIndexAttr  = "lifecycle.segment.index"
	linkTypeAttr      = "lifecycle.link.type"
	linkTypeParent    = "parent"
)

// lifecycleProcessor validates identity and splits traces. One mutex
// serialises batches: the state of a trace must see its spans in order.
type lifecycleProcessor struct {
	policy string
	clock  func() time.Time
	tel    *metadata.TelemetryBuilder

	mu       sync.Mutex
	identity *identityChecker
	split    *segment.Engine
	tracked  atomic.Int64
	held     atomic.Int64 // state bytes, for the gauge

	sweepEvery time.Duration
	stop       chan struct{}
	done       chan struct{}

	kindOpts   [numKinds][]metric.AddOption
	reasonOpts [segment.NumReasons][]metric.AddOption
}

// newLifecycleProcessor builds the processor core. opts change how the
// splitting engine works inside; only tests pass any.
func newLifecycleProcessor(set processor.Settings, cfg *Config, clock func() time.Time, opts ...segment.Option) (*lifecycleProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &lifecycleProcessor{
		policy:     cfg.Identity.OnViolation,
		clock:      clock,
		tel:        tel,
		identity:   newIdentityChecker(cfg.Identity.Attributes),
		split:      segment.New(cfg.Split.engineConfig(), clock(), opts...),
		sweepEvery: sweepInterval(cfg.Split.IdleTimeout),
	}
	for k := kindMissing; k < numKinds; k++ {
		p.kindOpts[k] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", kindNames[k])))}
	}
	for r := range segment.NumReasons {
		p.reasonOpts[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", segment.ReasonNames[r])))}
	}
	err = tel.RegisterProcessorLifecycleIdentityTracesTrackedCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(p.tracked.Load())
		return nil
	})
	if err == nil {
		err = tel.RegisterProcessorLifecycleIdentityStateBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(p.held.Load())
			return nil
		})
	}
	if err != nil {
		tel.Shutdown()
		return nil, err
	}
	p.storeGauges()
	return p, nil
}

// sweepInterval is how often idle state is dropped when no batch arrives.
func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/10, 10*time.Millisecond), 10*time.Second)
}

func (p *lifecycleProcessor) start(context.Context, component.Host) error {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.sweepLoop(p.stop, p.done)
	return nil
}

func (p *lifecycleProcessor) sweepLoop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.sweep()
		}
	}
}

// sweep drops the state of idle traces.
func (p *lifecycleProcessor) sweep() {
	p.mu.Lock()
	p.split.Begin(p.clock())
	stats := p.split.TakeStats()
	p.storeGauges()
	p.mu.Unlock()
	p.record(context.Background(), 0, 0, [numKinds]int64{}, stats)
}

// shutdown stops the sweeper and drops all state; nothing is buffered, so
// nothing is lost.
func (p *lifecycleProcessor) shutdown(context.Context) error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.mu.Lock()
	p.split.Reset()
	p.tracked.Store(0)
	p.held.Store(0)
	p.mu.Unlock()
	p.tel.Shutdown()
	return nil
}

func (p *lifecycleProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var (
		processed, dropped int64
		kinds              [numKinds]int64
	)
	p.mu.Lock()
	p.split.Begin(p.clock())
	id := p.identity
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		id.beginResource(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			processed += int64(spans.Len())
			if p.policy == OnViolationDrop {
				spans.RemoveIf(func(span ptrace.Span) bool {
					if n := id.check(span); n > 0 {
						countKinds(id, &kinds)
						dropped++
						return true
					}
					p.assign(span)
					return false
				})
				continue
			}
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if n := id.check(span); n > 0 {
					countKinds(id, &kinds)
					if p.policy == OnViolationTag {
						id.tag(span, n)
					}
				}
				p.assign(span)
			}
		}
	}
	stats := p.split.TakeStats()
	p.storeGauges()
	p.mu.Unlock()

	p.record(ctx, processed, dropped, kinds, stats)
	if dropped > 0 {
		removeEmpty(td)
		if td.ResourceSpans().Len() == 0 {
			return td, processorhelper.ErrSkipProcessingData
		}
	}
	return td, nil
}

// storeGauges publishes the engine's state for the gauges (p.mu held).
func (p *lifecycleProcessor) storeGauges() {
	p.tracked.Store(int64(p.split.Tracked()))
	p.held.Store(p.split.HeldBytes())
}

// assign asks the engine where span goes and writes its decision. This is
// the only place spans are changed for splitting: a span is rewritten in
// place, never removed or copied (invariant 1), and a span moved to a
// segment k >= 1 gets its provenance (invariant 5).
func (p *lifecycleProcessor) assign(span ptrace.Span) {
	t := span.TraceID()
	parent := span.ParentSpanID()
	d := p.split.Assign(segment.TraceID(t), segment.SpanKey(span.SpanID()), segment.SpanKey(parent), uint64(span.StartTimestamp()))
	if d.Segment != 0 {
		span.SetTraceID(pcommon.TraceID(d.TraceID))
		attrs := span.Attributes()
		attrs.PutStr(originTraceIDAttr, d.Origin)
		attrs.PutInt(segmentIndexAttr, int64(d.Segment))
	}
	if d.Reroot {
		link := span.Links().AppendEmpty()
		link.SetTraceID(t)
		link.SetSpanID(parent)
		link.Attributes().PutStr(linkTypeAttr, linkTypeParent)
		span.SetParentSpanID(pcommon.NewSpanIDEmpty())
	}
}

func countKinds(id *identityChecker, kinds *[numKinds]int64) {
	for _, k := range id.kinds {
		kinds[k]++
	}
}

// removeEmpty removes scopes and resources left without spans by drops.
func removeEmpty(td ptrace.Traces) {
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

// record adds the counts of one batch to the metrics.
func (p *lifecycleProcessor) record(ctx context.Context, processed, dropped int64, kinds [numKinds]int64, st segment.Stats) {
	t := p.tel
	add := func(c metric.Int64Counter, n int64, opts []metric.AddOption) {
		if n > 0 {
			c.Add(ctx, n, opts...)
		}
	}
	add(t.ProcessorLifecycleIdentitySpansProcessed, processed, nil)
	add(t.ProcessorLifecycleIdentitySpansDropped, dropped, nil)
	for k := kindMissing; k < numKinds; k++ {
		add(t.ProcessorLifecycleIdentityViolations, kinds[k], p.kindOpts[k])
	}
	add(t.ProcessorLifecycleIdentitySpansMoved, st.Moved, nil)
	add(t.ProcessorLifecycleIdentitySpansRerooted, st.Rerooted, nil)
	add(t.ProcessorLifecycleIdentitySegmentsOpened, st.Segments, nil)
	add(t.ProcessorLifecycleIdentityParentLinksLost, st.LinksLost, nil)
	add(t.ProcessorLifecycleIdentitySegmentsForgotten, st.Forgotten, nil)
	for r := range segment.NumReasons {
		add(t.ProcessorLifecycleIdentityTracesEvicted, st.Evicted[r], p.reasonOpts[r])
	}
}
