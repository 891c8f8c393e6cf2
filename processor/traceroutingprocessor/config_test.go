package traceroutingprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/tracebound/tracebound/processor/traceroutingprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	defaults := createDefaultConfig().(*Config)
	withDefaults := func(change func(*Config)) *Config {
		cfg := createDefaultConfig().(*Config)
		change(cfg)
		return cfg
	}
	id := func(name string) component.ID { return component.NewIDWithName(metadata.Type, name) }
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: defaults},
		{id: id("custom_header"), want: withDefaults(func(c *Config) {
			c.Header = "X-Trace-Config"
			c.Format = FormatKV
		})},
		{id: id("routes"), want: withDefaults(func(c *Config) {
			// Merged over the defaults: added, replaced, removed (empty).
			c.Fields["tenant"] = []string{"tenant", "org"}
			c.Fields["zone"] = []string{"zone_name"}
			c.Fields["workspace"] = []string{}
			c.DestinationsKey = ""
			c.Routes = []RouteConfig{
				{Match: map[string]any{"account": "42"}, Destinations: []string{"tempo"}},
				{Match: map[string]any{"account": []any{"2", 7}, "zone": "*"}, Destinations: []string{"tempo", "vendor"}},
				{Match: map[string]any{"tenant": "acme"}, Destinations: []string{"audit"}},
			}
			c.OnUnrouted = PolicyDefault
			c.DefaultDestinations = []string{"quarantine"}
		})},
		{id: id("allow_list"), want: withDefaults(func(c *Config) {
			c.OnMissing = PolicyDefault
			c.DefaultDestinations = []string{"tempo"}
			c.AllowedDestinations = []string{"tempo", "vendor.eu-1", "my_backend"}
		})},
		{id: id("empty_header"), wantErr: "header: must not be empty"},
		{id: id("bad_format"), wantErr: `format: must be "auto", "json" or "kv", got "yaml"`},
		{id: id("bad_field_name"), wantErr: `fields: field name "ten ant" must match ^[A-Za-z0-9_.-]{1,64}$`},
		{id: id("empty_field_key"), wantErr: "fields::tenant: keys must not be empty"},
		{id: id("field_key_is_destinations_key"), wantErr: `fields::tenant: "destinations" is the destinations_key`},
		{id: id("bad_on_missing"), wantErr: `on_missing: must be "drop" or "default", got "forward"`},
		{id: id("bad_on_invalid"), wantErr: `on_invalid: must be "drop" or "default", got "keep"`},
		{id: id("bad_on_unrouted"), wantErr: `on_unrouted: must be "drop" or "default", got "send"`},
		{id: id("default_without_destinations"), wantErr: `default_destinations: required when on_missing, on_invalid or on_unrouted is "default"`},
		{id: id("defaults_without_default_policy"), wantErr: `default_destinations: set, but no policy (on_missing, on_invalid, on_unrouted) is "default"`},
		{id: id("bad_default_name"), wantErr: `default_destinations: "tempo prod" must match [A-Za-z0-9._-]{1,128}`},
		{id: id("duplicate_default_name"), wantErr: `default_destinations: "tempo" is listed twice`},
		{id: id("bad_allowed_name"), wantErr: `allowed_destinations: "vendor/eu" must match [A-Za-z0-9._-]{1,128}`},
		{id: id("default_not_allowed"), wantErr: `default_destinations: "archive" is not in allowed_destinations`},
		{id: id("too_many_defaults"), wantErr: "default_destinations: holds 33 names, at most 32 are allowed"},
		{id: id("route_empty_match"), wantErr: "routes[1]::match: must not be empty"},
		{id: id("route_unknown_field"), wantErr: `routes[0]::match: "tenant" is not a field of fields, so the route can never match`},
		{id: id("route_no_destinations"), wantErr: "routes[0]::destinations: must not be empty"},
		{id: id("route_not_allowed"), wantErr: `routes[0]::destinations: "vendor" is not in allowed_destinations`},
		{id: id("route_bad_value"), wantErr: "routes[0]::match::account: map[id:1] (map[string]interface {}): must be a string, number, boolean or a list of them"},
		{id: id("route_empty_list"), wantErr: "routes[0]::match::account: an empty list matches nothing"},
		{id: id("route_float"), wantErr: "routes[0]::match::account: 1.5: quote a non-integer number"},
		{id: id("unknown_key"), wantErr: "has invalid keys: destinations"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = cfg.(*Config).Validate()
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	require.NoError(t, createDefaultConfig().(*Config).Validate())
}
