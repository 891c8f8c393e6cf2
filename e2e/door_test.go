package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracebound/tracebound/testbed/collector"
)

// Issue 12's "done when", tried against the built binary as a new user
// would: the socket's folder, connection caps, bodies that never arrive and
// the socket file removed under a running collector.

// doorConfig is udsToBackendConfig with extra otlpuds keys (indented
// under the receiver).
func doorConfig(socketPath, backendURL string, metricsPort int, receiverKeys string) string {
	return fmt.Sprintf(`
receivers:
  otlpuds:
    endpoint: %s
%sexporters:
  otlp_http:
    endpoint: %s
service:
%s  pipelines:
    traces:
      receivers: [otlpuds]
      exporters: [otlp_http]
`, socketPath, receiverKeys, backendURL, collector.TelemetryYAML(metricsPort))
}

// A socket in a folder every user can write is refused at start, with an
// error that says why and how to fix it.
func TestWorldWritableFolderRefusedBinary(t *testing.T) {
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	shared := filepath.Join(dir, "shared")
	require.NoError(t, os.Mkdir(shared, 0o755))
	require.NoError(t, os.Chmod(shared, 0o777)) // past the umask
	socket := filepath.Join(shared, "otlp.sock")
	cfg, _ := writeConfig(t, dir, func(port int) string { return doorConfig(socket, backend.URL, port, "") })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binaryPath, "--config", cfg).CombinedOutput()
	require.Error(t, err, "the collector must not start:\n%s", out)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "it exits by itself, with an error:\n%s", out)
	log := string(out)
	for _, want := range []string{
		fmt.Sprintf("folder %q (mode 0777", shared),      // which folder, its mode
		"can be written by all users",                    // why
		"move the socket away and listen in its place",   // what it risks
		"chmod go-w " + shared,                           // how to fix it
		"set strict_folder_modes: false to start anyway", // or opt out
	} {
		assert.Contains(t, log, want)
	}
	_, err = os.Lstat(socket)
	assert.True(t, os.IsNotExist(err), "nothing created at the path")
}

// fdCount is the number of descriptors the process pid holds open.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(entries)
}

// rssKiB is the process's resident set size (VmRSS).
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// flood opens n connections to socket; every other one sends half its
// request headers (slowloris), the rest send nothing. They are closed at
// cleanup. Connections the receiver closes at once are simply dead.
func flood(t *testing.T, socket string, n int) {
	t.Helper()
	for i := range n {
		c, err := net.Dial("unix", socket)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		if i%2 == 0 {
			_, _ = c.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\n"))
		}
	}
}

// helperPostEnv makes the re-executed e2e test binary post one trace
// request to the socket it names, and print the status and the time from
// connect to answer.
const helperPostEnv = "TRACEBOUND_E2E_HELPER_POST"

// TestHelperOtherUserPost is not a test: it is the child process of
// TestConnectionFloodOtherUserServedBinary, run as another user.
func TestHelperOtherUserPost(t *testing.T) {
	socket := os.Getenv(helperPostEnv)
	if socket == "" {
		t.Skip("helper process only")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(9, 3)).MarshalProto()
	require.NoError(t, err)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, "http://otlpuds/v1/traces", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	fmt.Printf("status=%d\ntook=%s\n", resp.StatusCode, time.Since(start))
}

// 5,000 idle or half-sent connections from one uid (this test's) leave a
// producer of another uid served, and the collector's descriptors bounded
// by the caps (the defaults: 256 per uid, 1,024 in all).
func TestConnectionFloodOtherUserServedBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the producer as another user (nobody, 65534)")
	}
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	require.NoError(t, os.Chmod(dir, 0o755)) // nobody reaches the socket and the binary
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string {
		return doorConfig(socket, backend.URL, port, "    socket_mode: \"0666\"\n")
	})
	p := startCollector(t, cfg, metricsPort, socket)
	idleFDs := fdCount(t, p.PID())

	const n = 5000
	flood(t, socket, n)
	perUID := 256
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_otlpuds_connections_refused", map[string]string{"limit": "max_connections_per_uid"}) >= n-float64(perUID)
	}, 60*time.Second, 50*time.Millisecond, "connections past the per-uid cap are closed and counted")
	floodedFDs := fdCount(t, p.PID())
	open := selfMetric(t, p, "otelcol_otlpuds_connections_open", nil)

	bin := filepath.Join(dir, "e2e.test")
	copyExecutable(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run=^TestHelperOtherUserPost$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperPostEnv+"="+socket)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "status=200", "a producer of another uid is served while uid 0 holds its maximum")
	took := ""
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "took="); ok {
			took = v
		}
	}
	require.Eventually(t, func() bool { return backend.Spans() == 3 }, 20*time.Second, 50*time.Millisecond)

	// Timings are measured, not asserted (CONTRIBUTING); the issue asks
	// for under a second.
	t.Logf("%d connections from uid 0: %.0f open, descriptors %d idle -> %d flooded; nobody's request answered 200 in %s",
		n, open, idleFDs, floodedFDs, took)
	assert.Equal(t, float64(perUID), open)
	assert.LessOrEqual(t, floodedFDs, idleFDs+perUID+16, "descriptors bounded by the per-uid cap")
}

// copyExecutable copies the file at from to to, mode 0755.
func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o755))
}

// Issue 12's bodies that never arrive, against the binary: 2,000
// connections announce a 20 MB body and send one byte. The connection caps
// are lifted so that all 2,000 are held (with the defaults, 256 would be,
// the rest closed at once): this is the bodies' own defence.
func TestStalledBodiesBinary(t *testing.T) {
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string {
		return doorConfig(socket, backend.URL, port, "    max_connections: 4096\n    max_connections_per_uid: 0\n")
	})
	p := startCollector(t, cfg, metricsPort, socket)
	client := udsClient(t, socket)
	postTraces(t, client, makeTraces(1, 10), nil)
	idle := rssKiB(t, p.PID())

	const n = 2000
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("unix", socket)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 20000000\r\n\r\n\x0a"))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_otlpuds_connections_open", nil) >= n
	}, 60*time.Second, 50*time.Millisecond, "all %d connections held", n)
	time.Sleep(500 * time.Millisecond) // their requests read as far as they go
	attacked := rssKiB(t, p.PID())
	inFlight := selfMetric(t, p, "otelcol_otlpuds_admission_in_flight_bytes", nil)

	start := time.Now()
	postTraces(t, client, makeTraces(2, 10), nil)
	took := time.Since(start)
	require.Eventually(t, func() bool { return backend.Spans() == 20 }, 20*time.Second, 50*time.Millisecond)

	t.Logf("VmRSS idle %d KiB, with %d stalled bodies %d KiB (+%d KiB); %.0f bytes in flight; a producer answered 200 in %s",
		idle, n, attacked, attacked-idle, inFlight, took)
	assert.Less(t, attacked-idle, int64(100<<10), "RSS within 100 MiB of idle")
	assert.Equal(t, float64(n*4096), inFlight, "each stalled body charged its first 4 KiB buffer")

	// read_body_timeout (10 s by default) cuts them all: 408, closed.
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_otlpuds_bodies_timed_out", nil) == n
	}, 60*time.Second, 100*time.Millisecond, "every stalled body cut and counted")
	buf := make([]byte, 64)
	require.NoError(t, conns[0].SetReadDeadline(time.Now().Add(10*time.Second)))
	k, _ := io.ReadFull(conns[0], buf[:12])
	assert.Equal(t, "HTTP/1.1 408", string(buf[:k]))
	client.Close() // the producer's keep-alive connections
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_otlpuds_connections_open", nil) == 0
	}, 20*time.Second, 50*time.Millisecond, "their connections closed")
	t.Logf("VmRSS after the cut: %d KiB", rssKiB(t, p.PID()))
}

// The socket file removed under a running collector is noticed, logged,
// counted on the collector's own metrics, and recreated: producers are
// served again.
func TestSocketRemovedHealedBinary(t *testing.T) {
	backend := newBackend(t, "backend")
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "otlp.sock")
	cfg, metricsPort := writeConfig(t, dir, func(port int) string { return doorConfig(socket, backend.URL, port, "") })
	p := startCollector(t, cfg, metricsPort, socket)
	postTraces(t, udsClient(t, socket), makeTraces(1, 5), nil)

	require.NoError(t, os.Remove(socket))
	require.Eventually(t, func() bool {
		return selfMetric(t, p, "otelcol_otlpuds_sockets_recreated", nil) == 1
	}, 20*time.Second, 50*time.Millisecond, "the socket is recreated")
	assert.Equal(t, 1.0, selfMetric(t, p, "otelcol_otlpuds_sockets_lost", map[string]string{"cause": "removed"}))
	assert.Contains(t, p.LogTail(100), "The socket file was removed while the receiver was running")
	fi, err := os.Lstat(socket)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket, fi.Mode().Type())

	postTraces(t, udsClient(t, socket), makeTraces(2, 5), nil)
	require.Eventually(t, func() bool { return backend.Spans() == 10 }, 20*time.Second, 50*time.Millisecond)
}
