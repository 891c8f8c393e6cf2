// Package e2e runs the ocb-built otelcol-tracebound binary as a user would:
// real config files, real Unix sockets, real HTTP backends.
package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
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
	if os.Getenv(helperPostEnv) != "" {
		// A test's child process (another user's producer): it builds
		// nothing and runs only its helper.
		return m.Run()
	}
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

// writeConfig writes a collector config into dir; configFor gets the port on
// which the collector must serve its own metrics.
func writeConfig(t *testing.T, dir string, configFor func(metricsPort int) string) (path string, metricsPort int) {
	t.Helper()
	metricsPort, err := collector.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	path, err = collector.WriteConfig(dir, "config", configFor(metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	return path, metricsPort
}

// startCollector runs the binary (through the testbed's process runner) on
// configPath and waits until socketPath accepts connections. The process is
// stopped with SIGTERM at test cleanup.
func startCollector(t *testing.T, configPath string, metricsPort int, socketPath string) *collector.Process {
	t.Helper()
	p, err := collector.Start(binaryPath, configPath, metricsPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("collector did not stop cleanly: %v", err)
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", p.LogTail(50))
		}
	})
	if err := waitForSocket(socketPath, 30*time.Second, p.Exited()); err != nil {
		t.Fatalf("collector did not start: %v\n%s", err, p.LogTail(50))
	}
	return p
}

func waitForSocket(path string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("collector exited")
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

// selfMetric sums the collector's own metric name over the series whose
// labels include match; 0 when there is none.
func selfMetric(t *testing.T, p *collector.Process, name string, match map[string]string) float64 {
	t.Helper()
	m, err := p.Scrape()
	if err != nil {
		t.Fatalf("scraping self metrics: %v", err)
	}
	return m.Sum(name, match)
}

// udsClient returns the testbed's OTLP/HTTP client for socketPath.
func udsClient(t *testing.T, socketPath string) *loadgen.Client {
	c := loadgen.NewClient("unix://"+socketPath, 2, 30*time.Second)
	t.Cleanup(c.Close)
	return c
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
