package destinationsexporter // import "github.com/tracebound/tracebound/exporter/destinationsexporter"

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/tracebound/tracebound/internal/confmoved"
	"github.com/tracebound/tracebound/internal/route"
)

var _ confmap.Unmarshaler = (*Config)(nil)

// plainConfig has Config's fields but not its Unmarshal method, so decoding
// into it does not recurse.
type plainConfig Config

// otlphttpFactory builds every destination's config defaults and exporter.
var otlphttpFactory = otlphttpexporter.NewFactory()

// movedKeys are the keys this exporter no longer has: routing, defaults
// included, is decided by the trace_routing processor alone.
var movedKeys = []confmoved.Key{
	{
		Name:    "default_destinations",
		MovedTo: "set default_destinations and the on_missing/on_invalid/on_unrouted policies on the trace_routing processor, which decides every route",
	},
	{
		Name:    "route_attribute",
		MovedTo: "the trace_routing processor stamps the route in the " + route.Attribute + " resource attribute, which destinations reads and removes",
	},
}

// Unmarshal rejects the removed keys, saying where their setting moved, then
// decodes the exporter's own keys as usual, then each entry of destinations
// on top of a fresh otlphttp default config, so an entry that sets only
// endpoint keeps every other otlphttp default.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confmoved.Check(conf, movedKeys...); err != nil {
		return err
	}
	raw := conf.ToStringMap()
	_, hasDestinations := raw[destinationsKey]
	delete(raw, destinationsKey)
	if err := confmap.NewFromStringMap(raw).Unmarshal((*plainConfig)(cfg)); err != nil {
		return err
	}
	if !hasDestinations {
		return nil
	}
	destsConf, err := conf.Sub(destinationsKey)
	if err != nil {
		return fmt.Errorf("%s: %w", destinationsKey, err)
	}
	dests := make(map[string]*otlphttpexporter.Config)
	for name := range destsConf.ToStringMap() {
		entry, err := unmarshalDestination(destsConf, name)
		if err != nil {
			return fmt.Errorf("%s::%s: %w", destinationsKey, name, err)
		}
		dests[name] = entry
	}
	cfg.Destinations = dests
	return nil
}

// unmarshalDestination decodes one entry of destinations over the otlphttp
// factory's default config.
func unmarshalDestination(destsConf *confmap.Conf, name string) (*otlphttpexporter.Config, error) {
	entryConf, err := destsConf.Sub(name)
	if err != nil {
		return nil, err
	}
	entry := otlphttpFactory.CreateDefaultConfig().(*otlphttpexporter.Config)
	if err := entryConf.Unmarshal(entry); err != nil {
		return nil, err
	}
	return entry, nil
}
