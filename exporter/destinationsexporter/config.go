package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/tracebound/tracebound/internal/route"
)

// destinationsKey is the config key of the destinations map.
const destinationsKey = "destinations"

// defaultDrainTimeout is the default of drain_timeout: long enough for a
// reachable destination to take what its queue holds (and for a flaky one to
// get a retry in: otlphttp's first retry comes after 2.5-7.5 s), short enough
// that the collector exits well within Kubernetes' default 30 s grace period,
// with time left for the receiver and processors that shut down before it.
const defaultDrainTimeout = 10 * time.Second

// Config is the configuration of the destinations exporter. It has no
// routing keys: the trace_routing processor decides every route and stamps
// it on the resource (route.Attribute); this exporter only delivers it.
type Config struct {
	// Destinations maps a destination name to a full otlphttp exporter
	// config (endpoint, headers, compression, tls, timeout, sending_queue,
	// retry_on_failure, ...). Each entry starts from the otlphttp defaults
	// (gzip, 30s timeout, sending_queue enabled with 1000 requests and 10
	// consumers, retry_on_failure enabled) and only the keys given override
	// them. Names match [A-Za-z0-9._-]{1,128}. No default: at least one entry
	// is required.
	Destinations map[string]*otlphttpexporter.Config `mapstructure:"destinations"`

	// DrainTimeout bounds the shutdown drain, all destinations together
	// (they drain at once): until it runs out, each destination keeps
	// sending what it queued, retries included; then what is still queued
	// or in flight is abandoned, counted as lost with reason shutdown, and
	// logged once per destination. 0 abandons everything at once, without
	// draining. Default 10s.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the exporter's own keys. Each destination's otlphttp
// config is validated by otlphttp's own rules when the collector walks the
// config (confmap.Validate), its errors prefixed with destinations::<name>.
func (cfg *Config) Validate() error {
	if len(cfg.Destinations) == 0 {
		return errors.New("destinations: at least one destination must be configured")
	}
	if cfg.DrainTimeout < 0 {
		return fmt.Errorf("drain_timeout: must not be negative, got %s", cfg.DrainTimeout)
	}
	for _, name := range sortedNames(cfg.Destinations) {
		if err := validateDestination(name, cfg.Destinations[name]); err != nil {
			return err
		}
	}
	return nil
}

// validateDestination checks what this exporter needs of one destination on
// top of otlphttp's own rules: a valid name, and a sending queue that never
// blocks the caller, which is what keeps destinations independent.
func validateDestination(name string, dest *otlphttpexporter.Config) error {
	// The rule trace_routing enforces on names in the trace config.
	if !route.ValidName(name) {
		return fmt.Errorf("destinations: invalid destination name %q: must match ^%s$", name, route.NamePattern)
	}
	if dest == nil {
		return fmt.Errorf("destinations::%s: must not be nil", name)
	}
	if !dest.QueueConfig.HasValue() {
		return fmt.Errorf("destinations::%s::sending_queue: must be enabled, so a slow destination never holds back the others", name)
	}
	queue := dest.QueueConfig.Get()
	if queue.BlockOnOverflow {
		return fmt.Errorf("destinations::%s::sending_queue::block_on_overflow: must be false, so a full destination never holds back the others", name)
	}
	if queue.WaitForResult {
		return fmt.Errorf("destinations::%s::sending_queue::wait_for_result: must be false, so a slow destination never holds back the others", name)
	}
	return nil
}

// sortedNames returns the destination names in a stable order, so errors,
// start and shutdown are deterministic.
func sortedNames(dests map[string]*otlphttpexporter.Config) []string {
	return slices.Sorted(maps.Keys(dests))
}
