package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"go.opentelemetry.io/collector/component"

	"github.com/tracebound/tracebound/internal/route"
)

// Format says how the trace config is encoded.
type Format string

const (
	// FormatAuto tries a raw JSON object, then base64 JSON, then key=value pairs.
	FormatAuto Format = "auto"
	// FormatJSON accepts a JSON object, raw or in base64.
	FormatJSON Format = "json"
	// FormatKV accepts key=value pairs only.
	FormatKV Format = "kv"
)

// Policy says what happens to a resource that its trace config does not route.
type Policy string

const (
	// PolicyDrop drops the resource and counts it.
	PolicyDrop Policy = "drop"
	// PolicyDefault routes the resource to Config.DefaultDestinations.
	PolicyDefault Policy = "default"
)

const (
	// defaultHeader is the client metadata key read when Config.Header is unset.
	defaultHeader = "cf-trace-config"
	// defaultFormat reads whatever encoding the producer chose.
	defaultFormat = FormatAuto
	// defaultDestinationsKey is the trace config key of a producer-named
	// destination list.
	defaultDestinationsKey = "destinations"
	// defaultPolicy applies to on_missing, on_invalid and on_unrouted: spans
	// that nothing routes go nowhere, and are counted.
	defaultPolicy = PolicyDrop
)

// defaultFields are the routing fields read from a trace config and the keys
// that may carry each, in the spellings producers use (foundations' own
// tests send camelCase numbers and snake_case strings).
func defaultFields() map[string][]string {
	return map[string][]string{
		"account":   {"account", "account_id", "accountId", "accountID"},
		"zone":      {"zone", "zone_id", "zoneId", "zoneID"},
		"workspace": {"workspace", "workspace_id", "workspaceId", "workspaceID"},
	}
}

// fieldNameRe is the rule for a field name, which becomes part of the
// resource attribute trace_config.<field>.
var fieldNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Config is the configuration of the trace_routing processor.
type Config struct {
	// Header is the client metadata key (an HTTP header) that carries the
	// trace config, matched case-insensitively. Default: "cf-trace-config".
	Header string `mapstructure:"header"`

	// Format is the encoding of the trace config: "auto" (a raw JSON object,
	// then JSON in base64, then key=value pairs), "json" (raw or base64) or
	// "kv". Default: "auto".
	Format Format `mapstructure:"format"`

	// Fields maps each routing field to the trace config keys that may carry
	// it, the first present key winning. Entries given here are merged over
	// the defaults (account, zone, workspace with their snake_case and
	// camelCase spellings): a new name adds a field, a default name replaces
	// its list, and an empty list removes the field.
	Fields map[string][]string `mapstructure:"fields"`

	// DestinationsKey is the trace config key of a producer-named destination
	// list (a JSON array, or names separated by "|"). "" ignores producer
	// destinations. Default: "destinations".
	DestinationsKey string `mapstructure:"destinations_key"`

	// Routes decide the destinations of a trace config that names none,
	// evaluated top-down, the first match winning. Default: none.
	Routes []RouteConfig `mapstructure:"routes"`

	// OnMissing is the policy for resources with no trace config at all:
	// "drop" or "default". Default: "drop".
	OnMissing Policy `mapstructure:"on_missing"`

	// OnInvalid is the policy for resources whose trace config cannot be
	// read (not decodable, over a limit, a bad destination name): "drop" or
	// "default". Default: "drop".
	OnInvalid Policy `mapstructure:"on_invalid"`

	// OnUnrouted is the policy for resources whose trace config was read but
	// names no destinations and matches no route: "drop" or "default".
	// Default: "drop".
	OnUnrouted Policy `mapstructure:"on_unrouted"`

	// DefaultDestinations receive the resources that a "default" policy
	// applies to. Required when a policy is "default", refused otherwise.
	// Default: none.
	DefaultDestinations []string `mapstructure:"default_destinations"`

	// AllowedDestinations, when not empty, lists the destination names a
	// producer may name; other names are dropped and counted as
	// unknown_destination. Routes and default_destinations must stay within
	// it. Default: none (every valid name passes on).
	AllowedDestinations []string `mapstructure:"allowed_destinations"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RouteConfig is one entry of routes.
type RouteConfig struct {
	// Match maps routing fields to the value they must hold: a string (or a
	// number or boolean, compared by its text), a list of them (any of), or
	// "*" (present with any value). Every key must hold. Required.
	Match map[string]any `mapstructure:"match"`

	// Destinations receive the resources the route matches. Required.
	Destinations []string `mapstructure:"destinations"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Header:          defaultHeader,
		Format:          defaultFormat,
		Fields:          defaultFields(),
		DestinationsKey: defaultDestinationsKey,
		OnMissing:       defaultPolicy,
		OnInvalid:       defaultPolicy,
		OnUnrouted:      defaultPolicy,
	}
}

// Validate checks the configuration, one rule at a time.
func (cfg *Config) Validate() error {
	if cfg.Header == "" {
		return errors.New("header: must not be empty")
	}
	switch cfg.Format {
	case FormatAuto, FormatJSON, FormatKV:
	default:
		return fmt.Errorf("format: must be %q, %q or %q, got %q", FormatAuto, FormatJSON, FormatKV, cfg.Format)
	}
	if err := cfg.validateFields(); err != nil {
		return err
	}
	if err := validateNames("allowed_destinations", cfg.AllowedDestinations, nil); err != nil {
		return err
	}
	if _, err := compileRoutes(cfg); err != nil {
		return err
	}
	for _, p := range []struct {
		key    string
		policy Policy
	}{{"on_missing", cfg.OnMissing}, {"on_invalid", cfg.OnInvalid}, {"on_unrouted", cfg.OnUnrouted}} {
		if p.policy != PolicyDrop && p.policy != PolicyDefault {
			return fmt.Errorf("%s: must be %q or %q, got %q", p.key, PolicyDrop, PolicyDefault, p.policy)
		}
	}
	usesDefault := cfg.OnMissing == PolicyDefault || cfg.OnInvalid == PolicyDefault || cfg.OnUnrouted == PolicyDefault
	if usesDefault && len(cfg.DefaultDestinations) == 0 {
		return errors.New(`default_destinations: required when on_missing, on_invalid or on_unrouted is "default"`)
	}
	if !usesDefault && len(cfg.DefaultDestinations) > 0 {
		return errors.New(`default_destinations: set, but no policy (on_missing, on_invalid, on_unrouted) is "default", so nothing would reach them`)
	}
	return validateNames("default_destinations", cfg.DefaultDestinations, cfg.AllowedDestinations)
}

func (cfg *Config) validateFields() error {
	for _, name := range sortedFieldNames(cfg.Fields) {
		if !fieldNameRe.MatchString(name) {
			return fmt.Errorf("fields: field name %q must match %s", name, fieldNameRe)
		}
		for _, key := range cfg.Fields[name] {
			if key == "" {
				return fmt.Errorf("fields::%s: keys must not be empty", name)
			}
			if key == cfg.DestinationsKey {
				return fmt.Errorf("fields::%s: %q is the destinations_key", name, key)
			}
		}
	}
	return nil
}

// validateNames checks a list of destination names: each valid, none twice,
// at most route.MaxDestinations, each in allowed when allowed is not empty.
func validateNames(key string, names, allowed []string) error {
	if len(names) > maxDestinations {
		return fmt.Errorf("%s: holds %d names, at most %d are allowed", key, len(names), maxDestinations)
	}
	for i, name := range names {
		if !route.ValidName(name) {
			return fmt.Errorf("%s: %q must match %s", key, name, route.NamePattern)
		}
		if slices.Contains(names[:i], name) {
			return fmt.Errorf("%s: %q is listed twice", key, name)
		}
		if len(allowed) > 0 && !slices.Contains(allowed, name) {
			return fmt.Errorf("%s: %q is not in allowed_destinations", key, name)
		}
	}
	return nil
}
