// Package route is what the trace_routing processor and the destinations
// exporter agree on: the resource attribute that carries a resource's route
// from the one to the other, how a list of destination names is written into
// it, and the rule every destination name follows. trace_routing decides and
// writes the route; destinations reads it and removes it before sending.
package route // import "github.com/tracebound/tracebound/internal/route"

import (
	"iter"
	"strings"
)

const (
	// Attribute is the resource attribute holding a resource's route: the
	// names of its destinations joined by Separator. It is internal to the
	// pipeline: destinations removes it before sending.
	Attribute = "tracebound.route"

	// Separator joins the names of a route. It is a string rather than a
	// slice attribute because one string, computed once per trace config,
	// is shared by every resource that carries the route: stamping it
	// allocates nothing per resource.
	Separator = ","
)

// Join writes names as a route value. Names must be valid (ValidName), so
// none contains Separator.
func Join(names []string) string {
	return strings.Join(names, Separator)
}

// Names yields the names of a route value, in order, without allocating.
// Empty names (an empty value, a doubled separator) are skipped; names are
// not validated here, the reader decides what an unknown name means.
func Names(value string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for name := range strings.SplitSeq(value, Separator) {
			if name == "" {
				continue
			}
			if !yield(name) {
				return
			}
		}
	}
}
