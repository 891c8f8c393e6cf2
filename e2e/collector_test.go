// Package e2e runs the ocb-built otelcol-tracebound binary as a user would:
// real config files, real Unix sockets, real HTTP backends.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaryPath is the collector under test, built once per test run by TestMain.
var binaryPath string

func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root := repoRoot()
	binaryPath = filepath.Join(root, "bin", "otelcol-tracebound")
	// The same target the README and Dockerfile use; it is a no-op when the
	// binary is newer than every source.
	cmd := exec.Command("make", "--no-print-directory", "build")
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "make build failed: %v\n", err)
		return 1
	}
	return m.Run()
}

// collector is one running otelcol-tracebound process.
type collector struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan error
}

// syncBuffer collects the collector's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeConfig writes a collector config into the test's temp folder.
func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startCollector runs the binary on configPath and waits until the socket
// accepts connections. The process is stopped with SIGTERM at test cleanup.
func startCollector(t *testing.T, configPath, socketPath string) *collector {
	t.Helper()
	c := &collector{output: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(binaryPath, "--config", configPath)
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("collector output:\n%s", c.output.String())
		}
	})
	if err := waitForSocket(socketPath, 30*time.Second, c.done); err != nil {
		t.Fatalf("collector did not start: %v\n%s", err, c.output.String())
	}
	return c
}

// stop sends SIGTERM and waits for a clean exit.
func (c *collector) stop(t *testing.T) {
	t.Helper()
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Errorf("collector did not stop within 30s of SIGTERM")
	}
}

// kill sends SIGKILL, as a crash or OOM kill would, and waits for the exit.
func (c *collector) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func waitForSocket(path string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("collector exited: %v", err)
		default:
		}
		conn, err := net.Dial("unix", path)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("socket " + path + " never accepted a connection")
}

// udsClient returns an HTTP client whose every request goes to socketPath.
func udsClient(socketPath string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socketPath)
			},
		},
	}
}

// shortTempDir returns a temp folder short enough for a Unix socket path
// (108 bytes on Linux), removed at cleanup.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binaryPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", binaryPath, strings.Join(args, " "), err, out)
	}
	return string(out)
}
