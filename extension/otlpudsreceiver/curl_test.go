package otlpudsreceiver

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCurlFromReadme runs the curl line the README shows, against a real
// receiver, so the documented command keeps working.
func TestCurlFromReadme(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	cfg := testConfig(t)
	capture := &metadataCapture{}
	startReceiver(t, cfg, consumers{traces: capture.consumer(t)})
	span, err := filepath.Abs(filepath.Join("testdata", "span.json"))
	require.NoError(t, err)

	// Same flags as README.md, with the socket and file paths of this test.
	out, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
		"--unix-socket", cfg.ServerConfig.NetAddr.Endpoint,
		"-H", "Content-Type: application/json",
		"-H", `cf-trace-config: {"account":"a1","zone":"z1","workspace":"w1","destinations":["local"]}`,
		"--data-binary", "@"+span,
		"http://localhost/v1/traces").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "200", strings.TrimSpace(string(out)))
	require.Len(t, capture.got, 1)
	assert.Equal(t, []string{`{"account":"a1","zone":"z1","workspace":"w1","destinations":["local"]}`}, capture.got[0].Get("cf-trace-config"))
}
