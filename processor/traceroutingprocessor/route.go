package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import "slices"

// reason says why a resource was not routed by its own trace config.
type reason uint8

const (
	reasonNone reason = iota
	reasonMissing
	reasonInvalid
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
	case reasonUnknownDestination:
		return "unknown_destination"
	default:
		return "none"
	}
}

// route is what a trace config (or its absence) decides for every resource
// that carries it. Routes are computed once per distinct trace config in a
// request and only read afterwards.
type route struct {
	// identity is stamped as trace_config.account, .zone and .workspace;
	// empty for a missing or invalid config.
	identity traceConfig
	// destinations receive one stamped copy each; empty means drop.
	destinations []string
	// unknown counts names dropped by allowed_destinations.
	unknown int
	// fallback is reasonMissing or reasonInvalid when the config was missing
	// or invalid: the resource is then defaulted (destinations not empty) or
	// dropped.
	fallback reason
}

// router turns trace configs into routes under the processor's policies.
type router struct {
	parse   func(string) (traceConfig, error) // parseTraceConfig; tests count calls
	allowed map[string]struct{}               // nil: every valid name is allowed
	missing route
	invalid route
}

func newRouter(cfg *Config) *router {
	r := &router{
		parse:   parseTraceConfig,
		missing: fallbackRoute(reasonMissing, cfg.OnMissing, cfg.DefaultDestinations),
		invalid: fallbackRoute(reasonInvalid, cfg.OnInvalid, cfg.DefaultDestinations),
	}
	if len(cfg.AllowedDestinations) > 0 {
		r.allowed = make(map[string]struct{}, len(cfg.AllowedDestinations))
		for _, name := range cfg.AllowedDestinations {
			r.allowed[name] = struct{}{}
		}
	}
	return r
}

func fallbackRoute(why reason, p Policy, defaults []string) route {
	rt := route{fallback: why}
	if p == PolicyDefault {
		rt.destinations = slices.Clone(defaults)
	}
	return rt
}

// routeFor parses a trace config value and applies the allow-list.
func (r *router) routeFor(raw string) *route {
	tc, err := r.parse(raw)
	if err != nil {
		return &r.invalid
	}
	rt := &route{identity: tc, destinations: tc.Destinations}
	if r.allowed != nil {
		kept := make([]string, 0, len(tc.Destinations))
		for _, name := range tc.Destinations {
			if _, ok := r.allowed[name]; ok {
				kept = append(kept, name)
			} else {
				rt.unknown++
			}
		}
		if rt.unknown > 0 {
			rt.destinations = kept
		}
	}
	rt.identity.Destinations = nil
	return rt
}
