package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/route"
)

// Reasons spans reach no destination (attribute reason of spans_dropped).
const (
	reasonUnrouted           = "unrouted"
	reasonUnknownDestination = "unknown_destination"
)

// plan is where one batch's resources go: a batch per destination, in the
// order of the exporter's destinations, and the spans that went nowhere.
type plan struct {
	batches       []ptrace.Traces // indexed like destinationsExporter.dests
	used          []bool          // batches[i] holds at least one resource
	unroutedSpans int64
	// unknownSpans counts, for every resource, its spans once per distinct
	// unknown name of its route.
	unknownSpans int64
	// unknownName is the first unknown name met in the batch, for the
	// warning; "" when there was none.
	unknownName string
}

// router hands resources to destinations by the route trace_routing stamped
// on them. It decides nothing: a resource goes to every configured
// destination its route names.
type router struct {
	index map[string]int // destination name -> index in dests
}

// split hands each resource of td to the batch of every configured
// destination its route names, once per destination however often the route
// names it: copies for all but the last destination named, the resource
// itself moved into the last one's batch. The route attribute is removed
// first, so no copy carries it. A name that is not configured gets no copy;
// the resource's spans are counted once per such name. A resource without a
// route (attribute absent, or naming nothing) is counted as unrouted. td is
// left empty of the resources it moved.
func (r *router) split(td ptrace.Traces) plan {
	n := len(r.index) // one destination per name
	out := plan{batches: make([]ptrace.Traces, n), used: make([]bool, n)}
	// targets holds the destinations of the resource at hand, in route
	// order, each once: seen[idx] == resource index + 1 marks idx as taken.
	targets := make([]int, 0, n)
	seen := make([]int, n)
	var unknown nameSet
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		value := ""
		if v, ok := attrs.Get(route.Attribute); ok {
			value = v.AsString() // trace_routing writes a string; anything else is read as its string form
		}
		targets = targets[:0]
		unknown.reset()
		named := false
		spans := int64(-1) // counted when first needed
		for name := range route.Names(value) {
			named = true
			if idx, ok := r.index[name]; ok {
				if seen[idx] != i+1 {
					seen[idx] = i + 1
					targets = append(targets, idx)
				}
				continue
			}
			if !unknown.add(name) {
				continue // a repeated unknown name is counted once
			}
			if spans < 0 {
				spans = int64(countSpans(rs))
			}
			out.unknownSpans += spans
			if out.unknownName == "" {
				out.unknownName = name
			}
		}
		if !named {
			out.unroutedSpans += int64(countSpans(rs))
			continue
		}
		if len(targets) == 0 {
			continue // every name unknown: counted above, nothing to send
		}
		attrs.Remove(route.Attribute)
		last := len(targets) - 1
		for _, idx := range targets[:last] {
			rs.CopyTo(out.batch(idx).ResourceSpans().AppendEmpty())
		}
		rs.MoveTo(out.batch(targets[last]).ResourceSpans().AppendEmpty())
	}
	return out
}

// batch returns the batch of destination idx, creating it on first use.
func (p *plan) batch(idx int) ptrace.Traces {
	if !p.used[idx] {
		p.batches[idx] = ptrace.NewTraces()
		p.used[idx] = true
	}
	return p.batches[idx]
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		n += sss.At(i).Spans().Len()
	}
	return n
}

// smallNameSet is how many distinct unknown names of one route nameSet
// tracks without allocating: a route trace_routing writes has at most 32
// names.
const smallNameSet = 32

// nameSet is the set of unknown names seen in one route. Up to smallNameSet
// names it is a linear scan of an array (no allocation, the common case);
// past that, a map, so a route that did not come from trace_routing and
// holds thousands of names costs linear time, not quadratic.
type nameSet struct {
	small [smallNameSet]string
	n     int
	big   map[string]struct{}
}

// add adds name and reports whether it was not in the set.
func (s *nameSet) add(name string) bool {
	if s.big != nil {
		if _, ok := s.big[name]; ok {
			return false
		}
		s.big[name] = struct{}{}
		return true
	}
	for _, seen := range s.small[:s.n] {
		if seen == name {
			return false
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = name
		s.n++
		return true
	}
	s.big = make(map[string]struct{}, 2*len(s.small))
	for _, seen := range s.small {
		s.big[seen] = struct{}{}
	}
	s.big[name] = struct{}{}
	return true
}

// reset empties the set; a map grown for one long route is let go.
func (s *nameSet) reset() {
	s.n = 0
	s.big = nil
}
