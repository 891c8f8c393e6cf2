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
	require.NoError(t, sub.Unmarshal(cfg))
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
	assert.Equal(t, defaultTraceConfigHeader, cfg.TraceConfigHeader)
	assert.Equal(t, defaultRetryAfter, cfg.RetryAfter)
	assert.Equal(t, int64(defaultMaxRequestBodySize), cfg.ServerConfig.MaxRequestBodySize)
	assert.False(t, cfg.ServerConfig.IncludeMetadata)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "0600", cfg.SocketMode)
	assert.Equal(t, "0", cfg.SocketGroup)
	assert.Equal(t, []uint32{1000, 1001}, cfg.AllowedUIDs)
	assert.Equal(t, []uint32{2000}, cfg.AllowedGIDs)
	assert.True(t, cfg.PeerAttributes)
	assert.Equal(t, "x-trace-config", cfg.TraceConfigHeader)
	assert.Equal(t, 5*time.Second, cfg.RetryAfter)
	assert.Equal(t, int64(1048576), cfg.ServerConfig.MaxRequestBodySize)
	assert.True(t, cfg.ServerConfig.IncludeMetadata)

	cfg, err = loadConfig(t, "relative")
	require.NoError(t, err)
	assert.Equal(t, "run/otlp.sock", cfg.ServerConfig.NetAddr.Endpoint)
}

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
		{"empty_header", "trace_config_header: must not be empty"},
		{"bad_header", `trace_config_header: "cf trace config" is not a valid HTTP header name`},
		{"zero_retry_after", "retry_after: must be positive"},
		{"tls", "tls: not supported on a unix socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// refuseURL's cases beyond the testdata ones: a unix: URL with no path,
// any letter case of the scheme, and paths that only look like URLs.
func TestRefuseURL(t *testing.T) {
	for path, want := range map[string]string{
		"unix:":          `endpoint: "unix:" is a URL; give the socket file path`,
		"unix://":        `endpoint: "unix://" is a URL; give the socket file path`,
		"UNIX:///x.sock": `endpoint: "UNIX:///x.sock" is a URL; give the socket file path, e.g. "/x.sock"`,
		"grpc+unix://x":  `endpoint: "grpc+unix://x" is a URL; give the socket file path`,
		"/run/otlp.sock": "",
		"run/unix:x":     "",
		"unix.sock":      "",
		"1http://x":      "",
	} {
		err := refuseURL(path)
		if want == "" {
			assert.NoError(t, err, path)
		} else {
			assert.EqualError(t, err, want, path)
		}
	}
}

func TestDefaultConfigNeedsEndpoint(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.ErrorContains(t, cfg.Validate(), "endpoint: must be set")
}

func TestParseSocketMode(t *testing.T) {
	for in, want := range map[string]uint32{"0660": 0o660, "660": 0o660, "0o600": 0o600, "0": 0, "0777": 0o777} {
		got, err := parseSocketMode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"0888", "1777", "-1", "0x1ff", "abc"} {
		_, err := parseSocketMode(in)
		assert.Error(t, err, in)
	}
}
