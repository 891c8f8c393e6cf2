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

// defaultWriteBufferSize is a destination's default write_buffer_size,
// where otlphttp's is 512 KiB. Each connection to a destination holds its
// write buffer for as long as it lives, and the HTTP client keeps two
// idle connections per host and dials more while more requests are in
// flight (up to num_consumers), each with a buffer of its own: at 512 KiB
// that was 1 to 2 MiB of the steady heap, live at every collection, so
// twice that in resident memory (issue 11). A larger buffer buys little:
// an export request is one body of hundreds of KiB or more, and once the
// headers and the first buffer of it are flushed the client writes the
// rest past the buffer in 32 KiB pieces whatever its size.
const defaultWriteBufferSize = 64 << 10

// unmarshalDestination decodes one entry of destinations over the otlphttp
// factory's default config, with this exporter's own write_buffer_size
// default.
func unmarshalDestination(destsConf *confmap.Conf, name string) (*otlphttpexporter.Config, error) {
	entryConf, err := destsConf.Sub(name)
	if err != nil {
		return nil, err
	}
	entry := otlphttpFactory.CreateDefaultConfig().(*otlphttpexporter.Config)
	entry.ClientConfig.WriteBufferSize = defaultWriteBufferSize
	if err := entryConf.Unmarshal(entry); err != nil {
		return nil, err
	}
	return entry, nil
}
