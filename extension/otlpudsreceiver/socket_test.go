package otlpudsreceiver

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadatatest"
)

// helperSocketEnv makes the test binary, re-executed as a child, listen on
// the socket it names and wait to be killed.
const helperSocketEnv = "OTLPUDS_TEST_HELPER_SOCKET"

// TestHelperListener is not a test: it is the child process of
// TestStaleSocketFromKilledProcess.
func TestHelperListener(t *testing.T) {
	path := os.Getenv(helperSocketEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("listen failed:", err)
		os.Exit(3)
	}
	fmt.Println("helper ready")
	// Keep the listener alive until SIGKILL; exit on our own after a while
	// so a broken parent cannot leave us behind forever.
	time.Sleep(2 * time.Minute)
	_ = ln.Close()
	os.Exit(4)
}

// startHelperListener runs a child process that listens on path and
// returns it once the socket answers.
func startHelperListener(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListener$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperSocketEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "helper ready") {
				ready <- true
				break
			}
		}
		ready <- false
		for sc.Scan() { // drain until the child exits
		}
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "helper process did not start listening")
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not start listening in time")
	}
	conn, err := net.Dial("unix", path)
	require.NoError(t, err, "helper socket should answer")
	_ = conn.Close()
	return cmd
}

func TestStaleSocketFromKilledProcess(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	cmd := startHelperListener(t, path)

	// SIGKILL: the process gets no chance to remove its socket file.
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	fi, err := os.Lstat(path)
	require.NoError(t, err, "a killed process leaves its socket file behind")
	require.NotZero(t, fi.Mode()&fs.ModeSocket)
	_, err = net.Dial("unix", path)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	cons, sink, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	metadatatest.AssertEqualOtlpudsStaleSocketsRemoved(t, r.tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdataIgnoreTime()...)

	body, err := ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(3)).MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, r.client, pathTraces, body, map[string]string{"Content-Type": contentTypeProtobuf})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 3, sink.SpanCount())
}

func TestStaleSocketLeftByClosedListener(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())

	cons, _, _, _ := sinks()
	startReceiver(t, cfg, cons)
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&fs.ModeSocket)
}

func TestLiveSocketIsNotTakenOver(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()

	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	err = comp.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "another process is listening")
	require.NoError(t, comp.Shutdown(context.Background()))

	// The live socket is untouched and still answers.
	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	_ = conn.Close()
}

func TestLiveSocketInOtherProcessIsNotTakenOver(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	startHelperListener(t, path)

	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	err := comp.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, path)
	require.NoError(t, comp.Shutdown(context.Background()))
	conn, err := net.Dial("unix", path)
	require.NoError(t, err, "the other process's socket must survive")
	_ = conn.Close()
}

func TestNonSocketFileIsNeverDeleted(t *testing.T) {
	for kind, named := range map[string]string{"file": "is a regular file", "folder": "is a folder", "symlink": "is a symlink"} {
		t.Run(kind, func(t *testing.T) {
			cfg := testConfig(t)
			path := cfg.ServerConfig.NetAddr.Endpoint
			switch kind {
			case "file":
				require.NoError(t, os.WriteFile(path, []byte("precious"), 0o600))
			case "folder":
				require.NoError(t, os.Mkdir(path, 0o700))
			case "symlink":
				require.NoError(t, os.Symlink("/dev/null", path))
			}
			cons, _, _, _ := sinks()
			comp, _ := createReceiver(t, cfg, cons)
			err := comp.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "not a socket")
			assert.Contains(t, err.Error(), named, "the error says what is there")
			require.NoError(t, comp.Shutdown(context.Background()))

			fi, err := os.Lstat(path)
			require.NoError(t, err, "the file must still exist")
			assert.Zero(t, fi.Mode()&fs.ModeSocket)
			if kind == "file" {
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, "precious", string(got))
			}
		})
	}
}

func TestParentFolderIsCreated(t *testing.T) {
	dir := shortTempDir(t)
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(dir, "a", "b", "otlp.sock")
	cons, _, _, _ := sinks()
	startReceiver(t, cfg, cons)

	fi, err := os.Stat(filepath.Join(dir, "a", "b"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	// Only the socket's group may reach it (search, not list), with the
	// default socket_mode 0660.
	assert.Equal(t, fs.FileMode(0o710), fi.Mode().Perm(), "created folder: owner rwx, group search only")
	fi, err = os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&fs.ModeSocket)
	// No private bind folder is left behind.
	entries, err := os.ReadDir(filepath.Join(dir, "a", "b"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestRelativeEndpoint(t *testing.T) {
	dir := shortTempDir(t)
	t.Chdir(dir)
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = filepath.Join("run", "otlp.sock")
	require.NoError(t, cfg.Validate())
	cons, _, _, _ := sinks()
	startReceiver(t, cfg, cons)
	fi, err := os.Lstat(filepath.Join(dir, "run", "otlp.sock"))
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&fs.ModeSocket)
}

func TestSocketMode(t *testing.T) {
	for _, mode := range []string{"0600", "0660", "0666"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SocketMode = mode
			cons, _, _, _ := sinks()
			startReceiver(t, cfg, cons)
			fi, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
			require.NoError(t, err)
			want, err := strconv.ParseUint(mode, 8, 32)
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(want), fi.Mode().Perm())
		})
	}
}

// TestSocketNeverMoreOpenThanConfigured stops listenSocket right after the
// bind and right before the socket is linked into place, with umask 0 (so
// that bind creates the socket 0777 and a missing chmod would show): until
// the link, nothing exists at the configured path and the socket sits in a
// folder only the owner can enter; when it is linked, its mode is the
// configured one already. Binding at the final path and chmodding after, or
// a bind folder others can enter, fails here.
func TestSocketNeverMoreOpenThanConfigured(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, mode := range []fs.FileMode{0o600, 0o660} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SocketMode = fmt.Sprintf("%04o", mode)
			var steps []listenStep
			testHookListen = func(step listenStep, tmpSock, path string) {
				steps = append(steps, step)
				assert.Equal(t, cfg.ServerConfig.NetAddr.Endpoint, path)
				_, err := os.Lstat(path)
				assert.ErrorIs(t, err, fs.ErrNotExist, "step %d: the socket must not be at the configured path yet", step)

				dir, err := os.Lstat(filepath.Dir(tmpSock))
				require.NoError(t, err)
				assert.True(t, dir.IsDir())
				assert.Equal(t, fs.FileMode(0o700), dir.Mode().Perm(), "step %d: the bind folder must shut out group and others", step)
				assert.Equal(t, uint32(os.Geteuid()), dir.Sys().(*syscall.Stat_t).Uid)

				sock, err := os.Lstat(tmpSock)
				require.NoError(t, err)
				assert.Equal(t, fs.ModeSocket, sock.Mode().Type())
				if step == stepReady {
					assert.Equal(t, mode, sock.Mode().Perm(), "the socket must have its mode before it is linked into place")
				}
			}
			t.Cleanup(func() { testHookListen = nil })

			cons, _, _, _ := sinks()
			startReceiver(t, cfg, cons)
			testHookListen = nil
			assert.Equal(t, []listenStep{stepBound, stepReady}, steps)
			fi, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
			require.NoError(t, err)
			assert.Equal(t, mode, fi.Mode().Perm())
			// The bind folder is gone.
			left, err := filepath.Glob(filepath.Join(filepath.Dir(cfg.ServerConfig.NetAddr.Endpoint), tempDirPrefix+"*"))
			require.NoError(t, err)
			assert.Empty(t, left)
		})
	}
}

func TestSocketGroup(t *testing.T) {
	gids := []int{os.Getgid()}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			if g != os.Getgid() {
				gids = append(gids, g) // a supplementary group
				break
			}
		}
	}
	if os.Geteuid() == 0 {
		gids = append(gids, 65534) // root may hand the socket to any group
	}
	for _, gid := range gids {
		t.Run(strconv.Itoa(gid), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SocketGroup = strconv.Itoa(gid)
			require.NoError(t, cfg.Validate())
			cons, _, _, _ := sinks()
			startReceiver(t, cfg, cons)
			fi, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
			require.NoError(t, err)
			assert.Equal(t, uint32(gid), fi.Sys().(*syscall.Stat_t).Gid)
		})
	}
}

func TestSocketGroupByName(t *testing.T) {
	name := groupName(t, os.Getgid())
	cfg := testConfig(t)
	cfg.SocketGroup = name
	require.NoError(t, cfg.Validate())
	cons, _, _, _ := sinks()
	startReceiver(t, cfg, cons)
	fi, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.NoError(t, err)
	assert.Equal(t, uint32(os.Getgid()), fi.Sys().(*syscall.Stat_t).Gid)
}

func TestSocketGroupNotPermitted(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may give the socket to any group")
	}
	cfg := testConfig(t)
	cfg.SocketGroup = "0" // root's group; an unprivileged user is not in it
	if groups, _ := os.Getgroups(); contains(groups, 0) || os.Getgid() == 0 {
		t.Skip("this user is in group 0")
	}
	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	err := comp.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "socket_group")
	require.NoError(t, comp.Shutdown(context.Background()))
	_, err = os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.ErrorIs(t, err, fs.ErrNotExist, "no socket is left when start fails")
}

func TestShutdownRemovesSocket(t *testing.T) {
	cfg := testConfig(t)
	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	_, err := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.NoError(t, err)
	require.NoError(t, comp.Shutdown(context.Background()))
	_, err = os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.ErrorIs(t, err, fs.ErrNotExist)

	// A second start on the same path works: nothing is left behind.
	cons2, _, _, _ := sinks()
	startReceiver(t, cfg, cons2)
}

func TestShutdownLeavesAForeignFile(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	// Another process replaced the socket meanwhile.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("theirs"), 0o600))
	require.NoError(t, comp.Shutdown(context.Background()))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "theirs", string(got))
}

func TestStartErrorsNamePath(t *testing.T) {
	// The parent "folder" is a file: the folder cannot be created.
	dir := shortTempDir(t)
	blocker := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(blocker, "otlp.sock")
	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, cfg, cons)
	err := comp.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), cfg.ServerConfig.NetAddr.Endpoint)
	require.NoError(t, comp.Shutdown(context.Background()))
}

func groupName(t *testing.T, gid int) string {
	t.Helper()
	g, err := lookupGroupName(gid)
	if err != nil {
		t.Skipf("gid %d has no name: %v", gid, err)
	}
	return g
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRemoveSparesAReplacementAfterClose plays a restart that overlaps a
// graceful shutdown: the listener is closed (requests in flight still
// running), a new process removes the socket and creates its own at the
// same path. The inode of the old socket is free by then; the new file must
// not be taken for ours even if the filesystem reuses the inode number.
func TestRemoveSparesAReplacementAfterClose(t *testing.T) {
	for range 5 {
		path := filepath.Join(shortTempDir(t), "otlp.sock")
		ln, sock, err := listenSocket(path, socketOptions{mode: 0o600, gid: -1})
		require.NoError(t, err)
		require.NoError(t, ln.Close())

		// The new process is another otlpuds: it takes over the socket it
		// finds stale and creates its own the same way.
		removed, err := takeOverStale(path)
		require.NoError(t, err)
		require.True(t, removed)
		theirs, theirSock, err := listenSocket(path, socketOptions{mode: 0o600, gid: -1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = theirSock.remove() })

		require.NoError(t, sock.remove())
		conn, err := net.Dial("unix", path)
		require.NoError(t, err, "the other process's socket must survive our shutdown")
		_ = conn.Close()
		require.NoError(t, theirs.Close())
	}
}
