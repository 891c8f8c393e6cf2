package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"slices"

	"github.com/tracebound/tracebound/internal/route"
)

// reason says why a resource was not routed by its trace config.
type reason uint8

const (
	reasonNone reason = iota
	reasonMissing
	reasonInvalid
	reasonUnrouted
	reasonUnknownDestination
	numReasons
)

// String is the value of the metrics' reason attribute.
func (r reason) String() string {
	switch r {
	case reasonMissing:
		return "missing"
	case reasonInvalid:
		return "invalid"
	case reasonUnrouted:
		return "unrouted"
	case reasonUnknownDestination:
		return "unknown_destination"
	default:
		return "none"
	}
}

// stamp is one resource attribute a decision writes.
type stamp struct {
	key, value string
}

// decision is what one trace config (or its absence) decides for every
// resource that carries it. Decisions are made once per distinct trace
// config in a request and only read afterwards.
type decision struct {
	// stamps are trace_config.<field> for every field found.
	stamps []stamp
	// names are the destinations, in order; empty means drop.
	names []string
	// route is route.Join(names), stamped as route.Attribute.
	route string
	// fallback is the reason a policy applied (missing, invalid, unrouted);
	// reasonNone when the producer's destinations or a route decided.
	fallback reason
	// unknown counts producer-named destinations allowed_destinations
	// removed.
	unknown int
	// raw is the trace config as sent, for the operator's warning sample.
	raw string
	// err is why the trace config is invalid.
	err error
}

// router turns trace configs into decisions, in DESIGN.md's order: the
// producer's destinations, then routes, then the policies.
type router struct {
	decoder  *decoder
	routes   []compiledRoute
	allowed  map[string]struct{} // nil: every valid name passes on
	policies [numReasons]Policy
	defaults []string
	// defaultRoute is route.Join(defaults).
	defaultRoute string
	// missing is shared by every resource without a trace config.
	missing *decision
}

func newRouter(cfg *Config) (*router, error) {
	routes, err := compileRoutes(cfg)
	if err != nil {
		return nil, err
	}
	r := &router{
		decoder:  newDecoder(cfg),
		routes:   routes,
		defaults: slices.Clone(cfg.DefaultDestinations),
	}
	r.defaultRoute = route.Join(r.defaults)
	r.policies[reasonMissing] = cfg.OnMissing
	r.policies[reasonInvalid] = cfg.OnInvalid
	r.policies[reasonUnrouted] = cfg.OnUnrouted
	if len(cfg.AllowedDestinations) > 0 {
		r.allowed = make(map[string]struct{}, len(cfg.AllowedDestinations))
		for _, name := range cfg.AllowedDestinations {
			r.allowed[name] = struct{}{}
		}
	}
	r.missing = r.fallback(&decision{}, reasonMissing)
	return r, nil
}

// decide decodes raw and decides its destinations.
func (r *router) decide(raw string) *decision {
	d := &decision{raw: raw}
	tc, err := r.decoder.decode(raw)
	if err != nil {
		return r.invalidDecision(raw, err)
	}
	for i, v := range tc.values {
		if v != "" {
			d.stamps = append(d.stamps, stamp{key: r.decoder.fields[i].attr, value: v})
		}
	}
	if len(tc.destinations) > 0 {
		d.names = r.allow(d, tc.destinations)
		d.route = route.Join(d.names)
		return d
	}
	for i := range r.routes {
		if rt := &r.routes[i]; rt.matches(&tc) {
			d.names, d.route = rt.names, rt.value
			return d
		}
	}
	return r.fallback(d, reasonUnrouted)
}

// invalidDecision is the decision for a trace config that cannot be read.
func (r *router) invalidDecision(raw string, err error) *decision {
	return r.fallback(&decision{raw: raw, err: err}, reasonInvalid)
}

// allow keeps the names allowed_destinations allows, counting the others.
func (r *router) allow(d *decision, names []string) []string {
	if r.allowed == nil {
		return names
	}
	kept := names[:0:0]
	for _, name := range names {
		if _, ok := r.allowed[name]; ok {
			kept = append(kept, name)
		} else {
			d.unknown++
		}
	}
	return kept
}

// fallback applies the policy of why to d.
func (r *router) fallback(d *decision, why reason) *decision {
	d.fallback = why
	if r.policies[why] == PolicyDefault {
		d.names = r.defaults
		d.route = r.defaultRoute
	}
	return d
}
