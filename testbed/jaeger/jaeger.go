// Package jaeger runs Jaeger v2 all-in-one (an OpenTelemetry Collector build
// with its own in-memory storage and query API) as a real backend for the
// testbed, and reads back through its query API what it stored: the classic
// JSON API (/api/traces), which is what Jaeger's UI reads and where its query
// service flags a span whose parent is not in its trace, and API v3
// (/api/v3/traces/{id}), OTLP JSON with the span links' attributes, which the
// classic model drops.
//
// The binary is built from its Go module by `make jaeger` (see the tools
// module internal/tools/jaeger); the testbed never builds it.
package jaeger

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
)

// Names in the config Jaeger is given.
const (
	storeName = "memstore"
	// exporterSentSpans is what Jaeger's storage exporter wrote to the
	// store; receiverRefusedSpans what its OTLP receiver refused.
	exporterSentSpans    = "otelcol_exporter_sent_spans"
	exporterFailedSpans  = "otelcol_exporter_send_failed_spans"
	receiverRefusedSpans = "otelcol_receiver_refused_spans"
)

// MaxTraces is the in-memory store's capacity in traces: far above what a
// scenario sends, so nothing is evicted while it is read back.
const MaxTraces = 10_000

// Jaeger is one running Jaeger all-in-one.
type Jaeger struct {
	proc *collector.Process
	// OTLPEndpoint is the base URL of its OTLP/HTTP receiver (exporters
	// append /v1/traces); QueryURL the base URL of its query API.
	OTLPEndpoint string
	QueryURL     string
	client       *http.Client
}

// ports are the loopback ports Jaeger listens on; none of them Jaeger's
// defaults (4318, 16686, 16685, 8888), so it runs beside anything else.
type ports struct {
	otlp, queryHTTP, queryGRPC, metrics int
}

// freePorts picks four loopback ports that were free a moment ago, holding
// each until all are picked so they differ.
func freePorts() (ports, error) {
	var p ports
	for _, dst := range []*int{&p.otlp, &p.queryHTTP, &p.queryGRPC, &p.metrics} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, err
		}
		defer ln.Close()
		*dst = ln.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}

// Start writes Jaeger's config to dir/name.yaml, starts binary on it (its
// log beside, name.log) and waits until its query API answers.
func Start(binary, dir, name string) (*Jaeger, error) {
	p, err := freePorts()
	if err != nil {
		return nil, err
	}
	path, err := collector.WriteConfig(dir, name, config(p))
	if err != nil {
		return nil, err
	}
	proc, err := collector.Start(binary, path, p.metrics)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	j := &Jaeger{
		proc:         proc,
		OTLPEndpoint: fmt.Sprintf("http://127.0.0.1:%d", p.otlp),
		QueryURL:     fmt.Sprintf("http://127.0.0.1:%d", p.queryHTTP),
		client:       &http.Client{Timeout: time.Minute},
	}
	if err := j.waitQuery(30 * time.Second); err != nil {
		proc.Kill()
		return nil, err
	}
	return j, nil
}

// waitQuery polls the query API's services endpoint until it answers 200.
func (j *Jaeger) waitQuery(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-j.proc.Exited():
			return fmt.Errorf("jaeger exited at start (%v): %s", j.proc.ExitErr(), j.proc.LogTail(20))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, last = j.get(ctx, "/api/services")
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("jaeger query API not up after %s: %v: %s", timeout, last, j.proc.LogTail(20))
}

// Stored is what Jaeger's own metrics say: spans written to the store,
// spans its storage exporter failed to write, spans its receiver refused.
type Stored struct {
	Spans, Failed, Refused int64
}

// Stored scrapes Jaeger's own metrics.
func (j *Jaeger) Stored() (Stored, error) {
	m, err := j.proc.Scrape()
	if err != nil {
		return Stored{}, err
	}
	return Stored{
		Spans:   int64(m.Sum(exporterSentSpans, nil)),
		Failed:  int64(m.Sum(exporterFailedSpans, nil)),
		Refused: int64(m.Sum(receiverRefusedSpans, nil)),
	}, nil
}

// LogPath is Jaeger's log file.
func (j *Jaeger) LogPath() string { return j.proc.LogPath }

// PID is Jaeger's process ID.
func (j *Jaeger) PID() int { return j.proc.PID() }

// Stop shuts Jaeger down (SIGTERM, then SIGKILL after timeout).
func (j *Jaeger) Stop(timeout time.Duration) error { return j.proc.Stop(timeout) }
