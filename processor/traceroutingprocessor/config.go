package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/component"

	"github.com/tracebound/tracebound/internal/destname"
)

// Policy says what happens to a resource whose trace config is missing or
// invalid.
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
	// defaultPolicy applies to both on_missing and on_invalid: producers drop
	// spans that carry no routing, and so do we.
	defaultPolicy = PolicyDrop
)

// Config is the configuration of the trace_routing processor.
type Config struct {
	// Header is the client metadata key (an HTTP header or gRPC metadata key)
	// that carries the trace config. Matched case-insensitively.
	// Default: "cf-trace-config".
	Header string `mapstructure:"header"`

	// OnMissing is the policy for resources with no trace config, neither in
	// the header nor in the trace.config resource attribute: "drop" or
	// "default". Default: "drop".
	OnMissing Policy `mapstructure:"on_missing"`

	// OnInvalid is the policy for resources whose trace config cannot be used
	// (not JSON or base64url JSON, over a limit, no destinations, a bad
	// destination name): "drop" or "default". Default: "drop".
	OnInvalid Policy `mapstructure:"on_invalid"`

	// DefaultDestinations receive the resources that a "default" policy
	// applies to. Required when on_missing or on_invalid is "default".
	// Default: none.
	DefaultDestinations []string `mapstructure:"default_destinations"`

	// AllowedDestinations, when not empty, is the list of destination names a
	// trace config may use; other names are dropped and counted as
	// unknown_destination. Default: none (every valid name is allowed).
	AllowedDestinations []string `mapstructure:"allowed_destinations"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Header:    defaultHeader,
		OnMissing: defaultPolicy,
		OnInvalid: defaultPolicy,
	}
}

// Validate checks the configuration, one rule at a time.
func (cfg *Config) Validate() error {
	if cfg.Header == "" {
		return errors.New("header must not be empty")
	}
	if err := validatePolicy("on_missing", cfg.OnMissing); err != nil {
		return err
	}
	if err := validatePolicy("on_invalid", cfg.OnInvalid); err != nil {
		return err
	}
	if (cfg.OnMissing == PolicyDefault || cfg.OnInvalid == PolicyDefault) && len(cfg.DefaultDestinations) == 0 {
		return errors.New(`default_destinations is required when on_missing or on_invalid is "default"`)
	}
	if err := validateNames("default_destinations", cfg.DefaultDestinations); err != nil {
		return err
	}
	if len(cfg.DefaultDestinations) > maxDestinations {
		return fmt.Errorf("default_destinations holds %d names, at most %d are allowed", len(cfg.DefaultDestinations), maxDestinations)
	}
	if err := validateNames("allowed_destinations", cfg.AllowedDestinations); err != nil {
		return err
	}
	if len(cfg.AllowedDestinations) > 0 {
		for _, name := range cfg.DefaultDestinations {
			if !slices.Contains(cfg.AllowedDestinations, name) {
				return fmt.Errorf("default_destinations: %q is not in allowed_destinations", name)
			}
		}
	}
	return nil
}

func validatePolicy(key string, p Policy) error {
	switch p {
	case PolicyDrop, PolicyDefault:
		return nil
	default:
		return fmt.Errorf("%s must be %q or %q, got %q", key, PolicyDrop, PolicyDefault, p)
	}
}

func validateNames(key string, names []string) error {
	for i, name := range names {
		if !destname.Valid(name) {
			return fmt.Errorf("%s: %q must match %s", key, name, destname.Pattern)
		}
		if slices.Contains(names[:i], name) {
			return fmt.Errorf("%s: %q is listed twice", key, name)
		}
	}
	return nil
}
