package collector

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
	"time"
)

// Process is one running collector.
type Process struct {
	Binary      string
	ConfigPath  string
	LogPath     string
	MetricsPort int

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	mu      sync.Mutex
	waitErr error
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// TelemetryYAML is the service.telemetry section that serves the internal
// metrics on 127.0.0.1:port, in the v0.165.0 format.
func TelemetryYAML(port int) string {
	return fmt.Sprintf(`  telemetry:
    logs:
      level: warn
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`, port)
}

// WriteConfig writes config to dir/name.yaml and returns the path.
func WriteConfig(dir, name, config string) (string, error) {
	path := filepath.Join(dir, name+".yaml")
	return path, os.WriteFile(path, []byte(config), 0o600)
}

// Start runs binary on the config file at configPath, logging to
// configPath's name with .log, and waits until the metrics endpoint on
// metricsPort answers (up to 30s). It fails if the process exits first.
func Start(binary, configPath string, metricsPort int) (*Process, error) {
	p := &Process{
		Binary:      binary,
		ConfigPath:  configPath,
		LogPath:     strings.TrimSuffix(configPath, filepath.Ext(configPath)) + ".log",
		MetricsPort: metricsPort,
		exited:      make(chan struct{}),
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p.logFile = f
	p.cmd = exec.Command(binary, "--config", configPath)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		f.Close()
		close(p.exited)
	}()
	if err := p.waitReady(30 * time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("collector exited at start (%v): %s", p.ExitErr(), p.LogTail(20))
		default:
		}
		if _, err := p.Scrape(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("collector metrics endpoint not up after %s: %s", timeout, p.LogTail(20))
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is the error of Wait once the process has exited.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Scrape reads the internal metrics.
func (p *Process) Scrape() (Metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", p.MetricsPort), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}

// Stop asks the collector to shut down (SIGTERM) and waits up to timeout,
// then kills it. It returns an error if the collector had to be killed.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return errors.New("collector did not stop within " + timeout.String() + "; killed")
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// LogTail returns the last n lines of the collector's log.
func (p *Process) LogTail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
