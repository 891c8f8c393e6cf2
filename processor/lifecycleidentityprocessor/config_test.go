package lifecycleidentityprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	defaults := createDefaultConfig().(*Config)
	withIdentity := func(i IdentityConfig) *Config {
		c := createDefaultConfig().(*Config)
		c.Identity = i
		return c
	}

	tests := []struct {
		name    string
		want    *Config
		wantErr string
	}{
		{name: "", want: defaults},
		{name: "custom", want: &Config{
			Identity: IdentityConfig{
				OnViolation: OnViolationDrop,
				Attributes: []AttributeRule{
					{Key: "service.name", Required: true, Type: TypeString, Pattern: "^[a-z-]+$"},
					{Key: "build.number", Type: TypeInt},
				},
			},
			Split: SplitConfig{MaxSpans: 500, MaxAge: time.Minute, IdleTimeout: 30 * time.Second, MaxTraces: 1000, MaxStateMiB: 64},
		}},
		{name: "count_only", want: withIdentity(IdentityConfig{OnViolation: OnViolationCount, Attributes: defaultIdentityAttributes()})},
		{name: "no_schema", want: withIdentity(IdentityConfig{OnViolation: OnViolationCount, Attributes: []AttributeRule{}})},
		{name: "tag", want: withIdentity(IdentityConfig{OnViolation: OnViolationTag, Attributes: defaultIdentityAttributes()})},
		{name: "bad_policy", wantErr: `identity::on_violation: must be "tag", "drop" or "count", got "ignore"`},
		{name: "bad_pattern", wantErr: `identity::attributes::2::pattern: key "process.nonce": error parsing regexp: missing closing ]: ` + "`[a-z`"},
		{name: "bad_type", wantErr: `identity::attributes::0::type: key "footprint.revision": must be "string", "int", "double" or "bool", got "integer"`},
		{name: "empty_key", wantErr: `identity::attributes::0::key: must not be empty`},
		{name: "duplicate_key", wantErr: `identity::attributes::1::key: "a" already declared in identity::attributes::0`},
		{name: "zero_max_spans", wantErr: `split::max_spans: must be at least 1, got 0`},
		{name: "huge_max_spans", wantErr: `split::max_spans: must be at most 32767, got 32768`},
		{name: "zero_max_age", wantErr: `split::max_age: must be at least 1ms, got 0s`},
		{name: "bare_number_max_age", wantErr: `split::max_age: must be at least 1ms, got 600ns`},
		{name: "long_max_age", wantErr: `split::max_age: must be at most 576h0m0s, got 577h0m0s`},
		{name: "negative_idle_timeout", wantErr: `split::idle_timeout: must be at least 1ms, got -1s`},
		{name: "sub_millisecond_idle_timeout", wantErr: `split::idle_timeout: must be at least 1ms, got 999µs`},
		{name: "long_idle_timeout", wantErr: `split::idle_timeout: must be at most 576h0m0s, got 600h0m0s`},
		{name: "zero_max_traces", wantErr: `split::max_traces: must be at least 1, got 0`},
		{name: "huge_max_traces", wantErr: `split::max_traces: must be at most 16777215, got 16777216`},
		{name: "zero_max_state_mib", wantErr: `split::max_state_mib: must be at least 1, got 0`},
		{name: "max_state_mib_under_table", wantErr: `split::max_state_mib: must be more than the 6.4 MiB the trace table takes outside the Go heap at split::max_traces 100000 (raise it, or lower split::max_traces), got 6`},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(metadata.Type, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.(*Config).Validate()
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

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, 2000, cfg.Split.MaxSpans)
	assert.Equal(t, 10*time.Minute, cfg.Split.MaxAge)
	assert.Equal(t, 5*time.Minute, cfg.Split.IdleTimeout)
	assert.Equal(t, 100_000, cfg.Split.MaxTraces)
	assert.Equal(t, 512, cfg.Split.MaxStateMiB)
	assert.Equal(t, OnViolationCount, cfg.Identity.OnViolation, "the default changes no data")
	keys := make([]string, 0, len(cfg.Identity.Attributes))
	for _, a := range cfg.Identity.Attributes {
		keys = append(keys, a.Key)
	}
	assert.Equal(t, []string{"component.name", "footprint.identifier", "footprint.revision", "footprint.solution", "process.nonce"}, keys)
	require.NoError(t, cfg.Validate())
}
