package otlpudsreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	// A removed key fails here, as the collector reading the file would.
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg.(*Config), cfg.(*Config).Validate()
}

func TestLoadConfigValid(t *testing.T) {
	cfg, err := loadConfig(t, "defaults")
	require.NoError(t, err)
	assert.Equal(t, "/run/tracebound/otlp.sock", cfg.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, confignet.TransportTypeUnix, cfg.ServerConfig.NetAddr.Transport)
	assert.Equal(t, defaultSocketMode, cfg.SocketMode)
	assert.Empty(t, cfg.SocketGroup)
	assert.Empty(t, cfg.AllowedUIDs)
	assert.Empty(t, cfg.AllowedGIDs)
	assert.False(t, cfg.PeerAttributes)
	assert.Equal(t, defaultRetryAfter, cfg.RetryAfter)
	assert.Equal(t, int64(defaultMaxRequestBodySize), cfg.ServerConfig.MaxRequestBodySize)
	assert.True(t, cfg.ServerConfig.IncludeMetadata, "every request header reaches the pipeline by default")
	assert.Equal(t, int64(defaultRequestLimitMiB), cfg.Admission.RequestLimitMiB)
	assert.Equal(t, int64(defaultWaitingLimitMiB), cfg.Admission.WaitingLimitMiB)
	assert.Equal(t, defaultMaxWait, cfg.Admission.MaxWait)
	assert.Less(t, cfg.Admission.MaxWait, cfg.ServerConfig.WriteTimeout, "the answer after the longest wait can be written")
	assert.Equal(t, defaultReadBodyTimeout, cfg.ReadBodyTimeout)
	assert.Equal(t, 10*time.Second, cfg.ReadBodyTimeout)
	assert.Zero(t, cfg.ServerConfig.ReadTimeout, "read_timeout stays confighttp's: none")

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "0600", cfg.SocketMode)
	assert.Equal(t, "0", cfg.SocketGroup)
	assert.Equal(t, []uint32{1000, 1001}, cfg.AllowedUIDs)
	assert.Equal(t, []uint32{2000}, cfg.AllowedGIDs)
	assert.True(t, cfg.PeerAttributes)
	assert.Equal(t, 5*time.Second, cfg.RetryAfter)
	assert.Equal(t, int64(1048576), cfg.ServerConfig.MaxRequestBodySize)
	assert.True(t, cfg.ServerConfig.IncludeMetadata)
	assert.Equal(t, int64(256), cfg.Admission.RequestLimitMiB)
	assert.Equal(t, int64(64), cfg.Admission.WaitingLimitMiB)
	assert.Equal(t, 3*time.Second, cfg.Admission.MaxWait)

	cfg, err = loadConfig(t, "no_admission")
	require.NoError(t, err)
	assert.Zero(t, cfg.Admission.RequestLimitMiB)
	assert.Zero(t, cfg.Admission.WaitingLimitMiB)
	assert.Zero(t, cfg.Admission.MaxWait)

	cfg, err = loadConfig(t, "door")
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, cfg.ReadBodyTimeout)

	cfg, err = loadConfig(t, "no_body_timeout")
	require.NoError(t, err)
	assert.Zero(t, cfg.ReadBodyTimeout)

	cfg, err = loadConfig(t, "relative")
	require.NoError(t, err)
	assert.Equal(t, "run/otlp.sock", cfg.ServerConfig.NetAddr.Endpoint)

	cfg, err = loadConfig(t, "no_metadata")
	require.NoError(t, err)
	assert.False(t, cfg.ServerConfig.IncludeMetadata, "include_metadata: false opts out")
}

// movedHeaderErr is the error of a config that still sets the removed
// trace_config_header: it names the key and where its setting went.
const movedHeaderErr = "trace_config_header: no longer supported: every request header now reaches the pipeline as client metadata; name the routing header in the trace_routing processor's header key"

func TestLoadConfigInvalid(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"empty_endpoint", "endpoint: must be set to the socket path"},
		{"folder_endpoint", `endpoint: "/run/tracebound/" names a folder`},
		{"tilde_endpoint", `endpoint: "~/otlp.sock": "~" is not expanded`},
		{"abstract_endpoint", `endpoint: abstract sockets ("@otlp") are not supported`},
		{"url_endpoint", `endpoint: "unix:///tmp/x.sock" is a URL; give the socket file path, e.g. "/tmp/x.sock"`},
		{"unix_prefix_endpoint", `endpoint: "unix:run/otlp.sock" is a URL; give the socket file path, e.g. "run/otlp.sock"`},
		{"scheme_endpoint", `endpoint: "http://localhost:4318" is a URL; give the socket file path`},
		{"dot_endpoint", `endpoint: "." does not name a socket file`},
		{"long_endpoint", "a unix socket path holds at most 107"},
		{"long_folder_endpoint", "is too long: the socket is bound in a temporary sub-folder first"},
		{"tcp_transport", `transport: must be "unix"`},
		{"bad_mode", `socket_mode: "rw-rw----" is not an octal number`},
		{"mode_too_wide", `socket_mode: "04660" has bits beyond 0777`},
		{"empty_mode", "socket_mode: must be set"},
		{"unknown_group", `socket_group: unknown group "no-such-group-tracebound"`},
		{"minus_one_group", `socket_group: "4294967295" is not a usable gid: to the kernel it means -1`},
		{"zero_retry_after", "retry_after: must be positive"},
		{"trace_config_header", movedHeaderErr},
		{"empty_trace_config_header", movedHeaderErr},
		{"tls", "tls: not supported on a unix socket"},
		{"negative_request_limit", "admission::request_limit_mib: must not be negative, got -1"},
		{"huge_waiting_limit", "admission::waiting_limit_mib: at most 1048576 (1 TiB), got 2000000"},
		{"negative_max_wait", "admission::max_wait: must not be negative, got -1s"},
		{"max_wait_past_write_timeout", "admission::max_wait: must be shorter than write_timeout (5s)"},
		{"max_wait_past_read_timeout", "admission::max_wait: must be shorter than read_timeout (2s)"},
		{"negative_read_body_timeout", "read_body_timeout: must not be negative (0: no timeout), got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
