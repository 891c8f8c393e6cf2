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

type routingTelemetry struct {
	tb         *metadata.TelemetryBuilder
	reasonAttr [numReasons][]metric.AddOption // as Add takes them: no slice allocated per call
	destAttr   sync.Map                       // destination name -> []metric.AddOption
	destAttrN  atomic.Int32
}

func newRoutingTelemetry(set component.TelemetrySettings) (*routingTelemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	t := &routingTelemetry{tb: tb}
	for r := reasonMissing; r < numReasons; r++ {
		t.reasonAttr[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))}
	}
	return t, nil
}

func (t *routingTelemetry) shutdown() {
	t.tb.Shutdown()
}

// record adds one request's counts. Each resource is counted once: routed
// to each of its destinations, or dropped (or defaulted) for its reason, and
// once more per destination allowed_destinations removed from it.
func (t *routingTelemetry) record(ctx context.Context, entries []entry) {
	var spansDropped, resourcesDropped, resourcesDefaulted [numReasons]int64
	for i := range entries {
		e := &entries[i]
		if why := e.d.fallback; why != reasonNone {
			if e.d.route == "" {
				spansDropped[why] += e.spans
				resourcesDropped[why] += e.resources
			} else {
				resourcesDefaulted[why] += e.resources
			}
		}
		if n := int64(e.d.unknown); n > 0 {
			spansDropped[reasonUnknownDestination] += e.spans * n
			resourcesDropped[reasonUnknownDestination] += e.resources * n
		}
		for _, name := range e.d.names {
			t.tb.ProcessorTraceRoutingSpansRouted.Add(ctx, e.spans, t.destinationAttr(name)...)
		}
	}
	for r := reasonMissing; r < numReasons; r++ {
		if v := spansDropped[r]; v > 0 {
			t.tb.ProcessorTraceRoutingSpansDropped.Add(ctx, v, t.reasonAttr[r]...)
		}
		if v := resourcesDropped[r]; v > 0 {
			t.tb.ProcessorTraceRoutingResourcesDropped.Add(ctx, v, t.reasonAttr[r]...)
		}
		if v := resourcesDefaulted[r]; v > 0 {
			t.tb.ProcessorTraceRoutingResourcesDefaulted.Add(ctx, v, t.reasonAttr[r]...)
		}
	}
}

// destinationAttr returns the options of one destination's count as the
// slice Add takes, so a cached one is passed on without allocating the
// variadic slice on every request.
func (t *routingTelemetry) destinationAttr(name string) []metric.AddOption {
	if v, ok := t.destAttr.Load(name); ok {
		return v.([]metric.AddOption)
	}
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", name)))}
	if t.destAttrN.Load() < maxCachedDestinationAttrs {
		if _, loaded := t.destAttr.LoadOrStore(name, opts); !loaded {
			t.destAttrN.Add(1)
		}
	}
	return opts
}
