package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadata"
)

// maxCachedDestinationAttrs bounds the cache of per-destination metric
// attribute sets; names beyond it still count, with a set built per call.
const maxCachedDestinationAttrs = 1024

// tally accumulates one request's counts, recorded once at its end.
type tally struct {
	routed             []destinationCount
	spansDropped       [numReasons]int64
	resourcesDropped   [numReasons]int64
	resourcesDefaulted [numReasons]int64
}

type destinationCount struct {
	name  string
	spans int64
}

// count adds one resource of spans spans, routed by rt.
func (t *tally) count(rt *route, spans int64) {
	if rt.fallback != reasonNone {
		if len(rt.destinations) == 0 {
			t.spansDropped[rt.fallback] += spans
			t.resourcesDropped[rt.fallback]++
		} else {
			t.resourcesDefaulted[rt.fallback]++
		}
	}
	if rt.unknown > 0 {
		t.spansDropped[reasonUnknownDestination] += spans * int64(rt.unknown)
		t.resourcesDropped[reasonUnknownDestination] += int64(rt.unknown)
	}
	for _, dest := range rt.destinations {
		t.addRouted(dest, spans)
	}
}

func (t *tally) addRouted(dest string, spans int64) {
	for i := range t.routed {
		if t.routed[i].name == dest {
			t.routed[i].spans += spans
			return
		}
	}
	t.routed = append(t.routed, destinationCount{name: dest, spans: spans})
}

type routingTelemetry struct {
	tb         *metadata.TelemetryBuilder
	reasonAttr [numReasons]metric.AddOption
	destAttr   sync.Map // destination name -> metric.AddOption
	destAttrN  atomic.Int32
}

func newRoutingTelemetry(set component.TelemetrySettings) (*routingTelemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	t := &routingTelemetry{tb: tb}
	for r := reasonMissing; r < numReasons; r++ {
		t.reasonAttr[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))
	}
	return t, nil
}

func (t *routingTelemetry) shutdown() {
	t.tb.Shutdown()
}

func (t *routingTelemetry) record(ctx context.Context, tl *tally) {
	for _, d := range tl.routed {
		t.tb.ProcessorTraceRoutingSpansRouted.Add(ctx, d.spans, t.destinationAttr(d.name))
	}
	for r := reasonMissing; r < numReasons; r++ {
		if v := tl.spansDropped[r]; v > 0 {
			t.tb.ProcessorTraceRoutingSpansDropped.Add(ctx, v, t.reasonAttr[r])
		}
		if v := tl.resourcesDropped[r]; v > 0 {
			t.tb.ProcessorTraceRoutingResourcesDropped.Add(ctx, v, t.reasonAttr[r])
		}
		if v := tl.resourcesDefaulted[r]; v > 0 {
			t.tb.ProcessorTraceRoutingResourcesDefaulted.Add(ctx, v, t.reasonAttr[r])
		}
	}
}

func (t *routingTelemetry) destinationAttr(name string) metric.AddOption {
	if v, ok := t.destAttr.Load(name); ok {
		return v.(metric.AddOption)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name)))
	if t.destAttrN.Load() < maxCachedDestinationAttrs {
		if _, loaded := t.destAttr.LoadOrStore(name, opt); !loaded {
			t.destAttrN.Add(1)
		}
	}
	return opt
}
