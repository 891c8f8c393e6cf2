package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Reasons spans reach no destination (attribute reason of spans_dropped).
const (
	reasonUnrouted           = "unrouted"
	reasonUnknownDestination = "unknown_destination"
)

// route is where one batch's resources go: a batch per destination, in the
// order of the exporter's destinations, and the spans that went nowhere.
type route struct {
	batches       []ptrace.Traces // indexed like destinationsExporter.dests
	used          []bool          // batches[i] holds at least one resource
	unroutedSpans int64
	unknownSpans  int64
}

// router groups resources by their route attribute.
type router struct {
	attribute string
	index     map[string]int // destination name -> index in dests
	defaults  []int          // indexes of default_destinations
}

// split moves each resource of td into the batch of its destination and
// removes the route attribute from it. A resource without the attribute (or
// with an empty value) goes to every default destination, or is dropped;
// one naming an unknown destination is dropped. td is left empty of the
// resources it moved.
func (r *router) split(td ptrace.Traces) route {
	n := len(r.index) // one destination per name
	out := route{batches: make([]ptrace.Traces, n), used: make([]bool, n)}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		name := ""
		if v, ok := attrs.Get(r.attribute); ok {
			name = v.AsString()
		}
		if name == "" {
			if len(r.defaults) == 0 {
				out.unroutedSpans += int64(countSpans(rs))
				continue
			}
			attrs.Remove(r.attribute)
			for k, idx := range r.defaults {
				dst := out.batch(idx).ResourceSpans().AppendEmpty()
				if k == len(r.defaults)-1 {
					rs.MoveTo(dst)
				} else {
					rs.CopyTo(dst)
				}
			}
			continue
		}
		idx, ok := r.index[name]
		if !ok {
			out.unknownSpans += int64(countSpans(rs))
			continue
		}
		attrs.Remove(r.attribute)
		rs.MoveTo(out.batch(idx).ResourceSpans().AppendEmpty())
	}
	return out
}

// batch returns the batch of destination idx, creating it on first use.
func (rt *route) batch(idx int) ptrace.Traces {
	if !rt.used[idx] {
		rt.batches[idx] = ptrace.NewTraces()
		rt.used[idx] = true
	}
	return rt.batches[idx]
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		n += sss.At(i).Spans().Len()
	}
	return n
}
