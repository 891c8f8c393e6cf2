package otlpudsreceiver

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README documents every key of the socket's door with the default
// the code has, and its metrics.
func TestReadmeDocumentsDoorKeys(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	def := createDefaultConfig().(*Config)
	for key, want := range map[string]string{
		"strict_folder_modes":     fmt.Sprint(def.StrictFolderModes),
		"max_connections":         fmt.Sprint(def.MaxConnections),
		"max_connections_per_uid": fmt.Sprint(def.MaxConnectionsPerUID),
		"read_header_timeout":     "10s",
		"read_body_timeout":       def.ReadBodyTimeout.String(),
	} {
		row := regexp.MustCompile("(?m)^\\| `" + key + "` \\| `([^`]*)` \\|").FindSubmatch(readme)
		require.NotNil(t, row, "README.md config table has no %s row", key)
		assert.Equal(t, want, string(row[1]), "%s default", key)
	}
	assert.Equal(t, defaultReadHeaderTimeout.String(), "10s")
	for _, name := range []string{"connections_open", "connections_refused", "connections_idle_closed", "sockets_lost", "sockets_recreated", "bodies_timed_out"} {
		assert.Contains(t, string(readme), "`otelcol_otlpuds_"+name+"`")
	}
}
