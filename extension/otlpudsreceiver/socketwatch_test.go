package otlpudsreceiver

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
)

// statusHost records the status events a component reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) fatal() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, ev := range h.events {
		if ev.Status() == componentstatus.StatusFatalError {
			errs = append(errs, ev.Err())
		}
	}
	return errs
}

// watchInterval is the tests' socket check interval.
const watchInterval = 20 * time.Millisecond

// startWatched starts a receiver on cfg that checks its socket every
// watchInterval, with a host that records fatal errors.
func startWatched(t *testing.T, cfg *Config) (*loggedReceiver, *statusHost) {
	t.Helper()
	lr := newLoggedReceiver(t, cfg)
	lr.recv.watchInterval = watchInterval
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, lr.comp.Start(context.Background(), host))
	return lr, host
}

// errorsLogged counts the error messages that contain snippet.
func (lr *loggedReceiver) errorsLogged(snippet string) int {
	return lr.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet(snippet).Len()
}

// ticks lets the watch run a few more checks.
func ticks() { time.Sleep(10 * watchInterval) }

func waitCounter(t *testing.T, lr *loggedReceiver, name, key, value string, want int64) {
	t.Helper()
	require.Eventually(t, func() bool { return counter(t, lr.tt, name, key, value) == want },
		10*time.Second, 5*time.Millisecond, "%s{%s=%s} never reached %d", name, key, value, want)
}

// TestSocketWatchRecreatesRemovedSocket: the socket file removed under a
// running receiver is noticed, logged once, counted, and recreated with
// the configured mode and group; a new client is served on it, and a
// connection made before goes on. Shutdown then removes the new file.
func TestSocketWatchRecreatesRemovedSocket(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	if os.Geteuid() == 0 {
		cfg.SocketGroup = "65534"
	}
	lr, host := startWatched(t, cfg)
	before := rawDial(t, path)
	require.Equal(t, http.StatusOK, before.request(t, false))

	require.NoError(t, os.Remove(path))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_recreated", "", "", 1)
	ticks()
	assert.Equal(t, int64(1), counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "cause", "removed"))
	assert.Equal(t, int64(1), counter(t, lr.tt, "otelcol_otlpuds_sockets_recreated", "", ""))
	assert.Equal(t, 1, lr.errorsLogged("was removed"), "logged once")
	assert.Len(t, lr.messages(zapcore.ErrorLevel), 1)

	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSocket, fi.Mode().Type())
	assert.Equal(t, fs.FileMode(0o660), fi.Mode().Perm())
	if os.Geteuid() == 0 {
		assert.Equal(t, uint32(65534), fi.Sys().(*syscall.Stat_t).Gid)
	}
	assert.Equal(t, http.StatusOK, postOnce(t, path), "a new client is served on the recreated socket")
	assert.Equal(t, http.StatusOK, before.request(t, false), "a connection made before goes on")
	left, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempDirPrefix+"*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no bind folder is left behind")

	// Removed again: a second loss, a second recreation.
	require.NoError(t, os.Remove(path))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_recreated", "", "", 2)
	assert.Equal(t, int64(2), counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "cause", "removed"))
	assert.Equal(t, http.StatusOK, postOnce(t, path))

	assert.Empty(t, host.fatal(), "retiring the old listener is no fatal error")
	require.NoError(t, lr.comp.Shutdown(context.Background()))
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist, "shutdown removes the recreated socket")
}

// TestSocketWatchRecreatesFolder: with its folder gone too (rm -rf run/),
// the folder is recreated as at start (0710 for the default 0660).
func TestSocketWatchRecreatesFolder(t *testing.T) {
	dir := shortTempDir(t)
	cfg := configAt(filepath.Join(dir, "run", "otlp.sock"))
	lr, _ := startWatched(t, cfg)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "run")))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_recreated", "", "", 1)
	fi, err := os.Stat(filepath.Join(dir, "run"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o710), fi.Mode().Perm())
	assert.Equal(t, http.StatusOK, postOnce(t, cfg.ServerConfig.NetAddr.Endpoint))
}

// TestSocketWatchLeavesReplacement: a regular file put in the socket's
// place is logged once, counted, and never deleted; once its owner
// removes it, the socket is recreated.
func TestSocketWatchLeavesReplacement(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	lr, _ := startWatched(t, cfg)

	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("theirs"), 0o600))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_lost", "cause", "replaced", 1)
	ticks()
	assert.Equal(t, int64(1), counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "", ""), "counted once")
	assert.Equal(t, 1, lr.errorsLogged("was replaced by another file"), "logged once")
	entry := lr.logs.FilterMessageSnippet("was replaced").All()[0]
	assert.Equal(t, "regular file", entry.ContextMap()["found"])
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "theirs", string(got), "the replacement is never deleted")
	assert.Zero(t, counter(t, lr.tt, "otelcol_otlpuds_sockets_recreated", "", ""))

	require.NoError(t, os.Remove(path))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_recreated", "", "", 1)
	assert.Equal(t, int64(1), counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "", ""), "the same loss, not a new one")
	assert.Equal(t, http.StatusOK, postOnce(t, path))
}

// TestSocketWatchHijackIsReported plays the hijack in a folder others can
// write (strict_folder_modes off): the socket is moved away and another
// listener bound at the path. It is reported; the other listener is left
// alone (it is not ours to close or delete).
func TestSocketWatchHijackIsReported(t *testing.T) {
	open := folderWithMode(t, shortTempDir(t), "open", 0o777)
	cfg := configAt(filepath.Join(open, "otlp.sock"))
	cfg.StrictFolderModes = false
	path := cfg.ServerConfig.NetAddr.Endpoint
	lr, _ := startWatched(t, cfg)

	require.NoError(t, os.Rename(path, path+".moved"))
	theirs, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = theirs.Close() })
	waitCounter(t, lr, "otelcol_otlpuds_sockets_lost", "cause", "replaced", 1)
	entry := lr.logs.FilterMessageSnippet("was replaced").All()[0]
	assert.Equal(t, "socket", entry.ContextMap()["found"])
	ticks()
	c, err := net.Dial("unix", path)
	require.NoError(t, err, "the other listener is untouched")
	_ = c.Close()
}

// TestSocketWatchRecreateWaitsForSafeFolder: a socket removed while its
// folder became writable by others is not recreated there (the same
// check as at start); the reason is logged once, not at every check, and
// the socket comes back once the folder is fixed.
func TestSocketWatchRecreateWaitsForSafeFolder(t *testing.T) {
	dir := folderWithMode(t, shortTempDir(t), "d", 0o755)
	cfg := configAt(filepath.Join(dir, "otlp.sock"))
	path := cfg.ServerConfig.NetAddr.Endpoint
	lr, _ := startWatched(t, cfg)

	require.NoError(t, os.Chmod(dir, 0o777))
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return lr.errorsLogged("Cannot recreate the socket") == 1 },
		10*time.Second, 5*time.Millisecond)
	ticks()
	assert.Equal(t, 1, lr.errorsLogged("Cannot recreate the socket"), "logged once")
	assert.Equal(t, 1, lr.errorsLogged("mode 0777"))
	_, err := os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	require.NoError(t, os.Chmod(dir, 0o755))
	waitCounter(t, lr, "otelcol_otlpuds_sockets_recreated", "", "", 1)
	assert.Equal(t, http.StatusOK, postOnce(t, path))
}

// TestSocketWatchChmodStaysOurs: an operator's chmod of the socket is not
// a replacement.
func TestSocketWatchChmodStaysOurs(t *testing.T) {
	cfg := testConfig(t)
	lr, _ := startWatched(t, cfg)
	require.NoError(t, os.Chmod(cfg.ServerConfig.NetAddr.Endpoint, 0o600))
	ticks()
	assert.Zero(t, counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "", ""))
	assert.Empty(t, lr.messages(zapcore.ErrorLevel))
}

// TestSocketWatchStopsAtShutdown: the socket shutdown removes is not
// "recreated" afterwards.
func TestSocketWatchStopsAtShutdown(t *testing.T) {
	cfg := testConfig(t)
	lr, _ := startWatched(t, cfg)
	require.NoError(t, lr.comp.Shutdown(context.Background()))
	ticks()
	_, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Zero(t, counter(t, lr.tt, "otelcol_otlpuds_sockets_lost", "", ""))
	assert.Equal(t, socketCheckInterval, time.Second)
}
