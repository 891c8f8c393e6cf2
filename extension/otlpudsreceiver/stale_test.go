package otlpudsreceiver

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staleSocket leaves a socket file nobody listens on at path and returns
// what takeOverStale's probe sees of it, pinned until the test ends.
func staleSocket(t *testing.T, path string) os.FileInfo {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	fi, pin, err := pinFile(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pin.Close() })
	return fi
}

func TestRemoveIfSameRemovesTheProbedSocket(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "otlp.sock")
	probed := staleSocket(t, path)

	removed, err := removeIfSame(path, probed)
	require.NoError(t, err)
	assert.True(t, removed)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "socket and private folder are gone")
}

// TestRemoveIfSameSparesALiveReplacement plays the race of two collectors
// starting on one path: both probe the same stale socket, the other one
// replaces it with its live socket first. Ours must not delete that one.
func TestRemoveIfSameSparesALiveReplacement(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "otlp.sock")
	probed := staleSocket(t, path)

	require.NoError(t, os.Remove(path))
	live, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer live.Close()

	removed, err := removeIfSame(path, probed)
	require.ErrorIs(t, err, errReplacedMeanwhile)
	assert.False(t, removed)
	conn, err := net.Dial("unix", path)
	require.NoError(t, err, "the live socket is back in place and answers")
	_ = conn.Close()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no private folder left behind")
	assert.Equal(t, "otlp.sock", entries[0].Name())
}

func TestRemoveIfSameSparesAReplacementFile(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "otlp.sock")
	probed := staleSocket(t, path)

	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("precious"), 0o600))

	_, err := removeIfSame(path, probed)
	require.ErrorIs(t, err, errReplacedMeanwhile)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(got))
}

func TestRemoveIfSameOnMissingPath(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "otlp.sock")
	probed := staleSocket(t, path)
	require.NoError(t, os.Remove(path))

	removed, err := removeIfSame(path, probed)
	require.NoError(t, err)
	assert.False(t, removed)
	_, err = os.Lstat(path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}
