package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/tracebound/tracebound/internal/route"
)

// matchAny is the match value that holds for any value present.
const matchAny = "*"

// compiledRoute is one entry of routes, with its match keys resolved to
// field indexes.
type compiledRoute struct {
	conditions []condition
	names      []string
	value      string // route.Join(names), shared by every resource it routes
}

// condition is one key of a route's match.
type condition struct {
	field  int      // index in decoder.fields
	any    bool     // "*": present with any value
	values []string // else: one of these
}

// matches reports whether every condition holds for tc.
func (r *compiledRoute) matches(tc *traceConfig) bool {
	for _, c := range r.conditions {
		v := tc.values[c.field]
		if v == "" || (!c.any && !slices.Contains(c.values, v)) {
			return false
		}
	}
	return true
}

// compileRoutes checks the routes table and resolves it against the
// fields. Validate and the processor both call it, so the rules live here
// only. A route that can never match is an error naming its index.
func compileRoutes(cfg *Config) ([]compiledRoute, error) {
	d := newDecoder(cfg)
	out := make([]compiledRoute, 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if len(rc.Match) == 0 {
			return nil, fmt.Errorf("%s::match: must not be empty: a route that matches everything is on_unrouted: default", key)
		}
		if len(rc.Destinations) == 0 {
			return nil, fmt.Errorf("%s::destinations: must not be empty", key)
		}
		if err := validateNames(key+"::destinations", rc.Destinations, cfg.AllowedDestinations); err != nil {
			return nil, err
		}
		r := compiledRoute{names: slices.Clone(rc.Destinations), value: route.Join(rc.Destinations)}
		for _, name := range slices.Sorted(maps.Keys(rc.Match)) {
			idx := d.fieldIndex(name)
			if idx < 0 {
				return nil, fmt.Errorf("%s::match: %q is not a field of fields, so the route can never match", key, name)
			}
			c, err := compileCondition(rc.Match[name])
			if err != nil {
				return nil, fmt.Errorf("%s::match::%s: %w", key, name, err)
			}
			c.field = idx
			r.conditions = append(r.conditions, c)
		}
		out = append(out, r)
	}
	return out, nil
}

func compileCondition(v any) (condition, error) {
	if s, ok := v.(string); ok && s == matchAny {
		return condition{any: true}, nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if len(list) == 0 {
		return condition{}, errors.New("an empty list matches nothing")
	}
	c := condition{values: make([]string, 0, len(list))}
	for _, item := range list {
		s, err := matchText(item)
		if err != nil {
			return condition{}, err
		}
		c.values = append(c.values, s)
	}
	return c, nil
}

// matchText is the text a match value compares with: trace config values
// are compared as the text they were sent as, so YAML's 42 matches "42".
func matchText(v any) (string, error) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return "", errors.New(`"" matches nothing (an empty value reads as absent); use "*" for any value`)
		}
		if t == matchAny {
			return "", errors.New(`"*" cannot be one value of a list`)
		}
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case uint64:
		return strconv.FormatUint(t, 10), nil
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return strconv.FormatInt(int64(t), 10), nil
		}
		return "", fmt.Errorf("%v: quote a non-integer number, so it compares with the exact text sent", t)
	default:
		return "", fmt.Errorf("%v (%T): must be a string, number, boolean or a list of them", v, v)
	}
}
