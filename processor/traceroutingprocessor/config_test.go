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

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{
			id:   component.NewID(metadata.Type),
			want: &Config{Header: "cf-trace-config", OnMissing: PolicyDrop, OnInvalid: PolicyDrop},
		},
		{
			id:   component.NewIDWithName(metadata.Type, "custom_header"),
			want: &Config{Header: "X-Trace-Config", OnMissing: PolicyDrop, OnInvalid: PolicyDrop},
		},
		{
			id: component.NewIDWithName(metadata.Type, "defaults"),
			want: &Config{
				Header: "cf-trace-config", OnMissing: PolicyDefault, OnInvalid: PolicyDefault,
				DefaultDestinations: []string{"tempo", "archive"},
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "allow_list"),
			want: &Config{
				Header: "cf-trace-config", OnMissing: PolicyDefault, OnInvalid: PolicyDrop,
				DefaultDestinations: []string{"tempo"},
				AllowedDestinations: []string{"tempo", "vendor.eu-1", "my_backend"},
			},
		},
		{id: component.NewIDWithName(metadata.Type, "empty_header"), wantErr: "header must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "bad_on_missing"), wantErr: `on_missing must be "drop" or "default", got "forward"`},
		{id: component.NewIDWithName(metadata.Type, "bad_on_invalid"), wantErr: `on_invalid must be "drop" or "default", got "keep"`},
		{id: component.NewIDWithName(metadata.Type, "default_without_destinations"), wantErr: `default_destinations is required when on_missing or on_invalid is "default"`},
		{id: component.NewIDWithName(metadata.Type, "bad_default_name"), wantErr: `default_destinations: "tempo prod" must match [A-Za-z0-9._-]{1,128}`},
		{id: component.NewIDWithName(metadata.Type, "duplicate_default_name"), wantErr: `default_destinations: "tempo" is listed twice`},
		{id: component.NewIDWithName(metadata.Type, "bad_allowed_name"), wantErr: `allowed_destinations: "vendor/eu" must match [A-Za-z0-9._-]{1,128}`},
		{id: component.NewIDWithName(metadata.Type, "default_not_allowed"), wantErr: `default_destinations: "archive" is not in allowed_destinations`},
		{id: component.NewIDWithName(metadata.Type, "too_many_defaults"), wantErr: "default_destinations holds 33 names, at most 32 are allowed"},
		{id: component.NewIDWithName(metadata.Type, "unknown_key"), wantErr: "has invalid keys: destinations"},
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
