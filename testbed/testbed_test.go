// Package testbed holds the testbed's quick mode, run by `make test`: every
// scenario at small rates for a few seconds against the binary `make build`
// produces, asserting correctness checks only (never timings). real-backend
// is skipped: it needs Jaeger, whose first build on a clean clone alone
// would exceed make test's budget (make testbed runs it).
package testbed

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebound/tracebound/testbed/report"
	"github.com/tracebound/tracebound/testbed/scenario"
)

// logWriter sends scenario progress to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestQuickMode(t *testing.T) {
	if testing.Short() {
		t.Skip("quick mode builds and runs the collector binary; skipped under -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// make build is serialised with flock and does nothing when the binary
	// is up to date, so concurrent test packages may all ask for it.
	build := exec.Command("make", "build")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	binary := filepath.Join(root, "bin", "otelcol-tracebound")
	// Not built here: `make lb-agent` takes minutes on a clean clone.
	// scale-out runs when a `make testbed` or `make lb-agent` left the
	// agent, and is skipped otherwise.
	agent := filepath.Join(root, ".tools", "lb-agent", "otelcol-lb-agent")
	out := t.TempDir()
	for _, sc := range scenario.All() {
		t.Run(sc.Name, func(t *testing.T) {
			res := scenario.Execute(context.Background(), scenario.Options{Binary: binary, AgentBinary: agent, Quick: true, Log: logWriter{t}}, sc)
			if err := report.Write(out, res); err != nil {
				t.Errorf("report: %v", err)
			}
			switch res.Status {
			case scenario.StatusSkipped:
				t.Skip(res.Reason)
			case scenario.StatusError:
				t.Fatalf("scenario error: %s", res.Reason)
			}
			for _, c := range res.Failed() {
				t.Errorf("%s [%s]: %s", c.Name, c.Kind, c.Detail)
			}
			for _, c := range res.Checks {
				if c.Kind == scenario.Info || (c.Kind == scenario.Timing && !c.Pass) {
					t.Logf("%s [%s]: %s", c.Name, c.Kind, c.Detail)
				}
			}
		})
	}
	results, err := report.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.WriteSummary(out, results, report.ThisMachine(binary)); err != nil {
		t.Fatal(err)
	}
}
