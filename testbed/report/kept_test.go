package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebound/tracebound/testbed/scenario"
)

// TestSummaryKeepsOtherScenarios: a run of one scenario into a folder whose
// SUMMARY.md has others, without their JSON (it is not committed), keeps
// their rows and sections verbatim, in the scenarios' order, and says so.
func TestSummaryKeepsOtherScenarios(t *testing.T) {
	dir := t.TempDir()
	run := func(label string, cpu float64) scenario.Run {
		return scenario.Run{Label: label, Pipeline: scenario.Tracebound, OfferedRate: 1000, DeliveredRate: 1000, CPUMicrosPerSpan: cpu}
	}
	steady := scenario.Result{Scenario: "steady", Title: "Steady", Status: scenario.StatusPassed, Runs: []scenario.Run{run("tracebound 1k/s", 3)},
		Checks: []scenario.Check{{Name: "steady check", Kind: scenario.Correctness, Pass: true, Detail: "d1"}}}
	restart := scenario.Result{Scenario: "restart", Title: "Restart", Status: scenario.StatusFailed, Runs: []scenario.Run{run("tracebound restart", 4)},
		Checks: []scenario.Check{{Name: "restart check", Kind: scenario.Correctness, Detail: "d2"}}}
	if err := WriteSummary(dir, []scenario.Result{steady, restart}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	steadyRow := "| steady | tracebound 1k/s |"
	steadySection := string(first)[strings.Index(string(first), "\n## steady\n"):strings.Index(string(first), "\n## restart\n")]

	// Then lifecycle alone: steady and restart are kept around it.
	lifecycle := scenario.Result{Scenario: "lifecycle", Title: "Lifecycle", Status: scenario.StatusPassed, Runs: []scenario.Run{run("tracebound lifecycle", 5)}}
	if err := WriteSummary(dir, []scenario.Result{lifecycle}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	sum := string(data)
	if !strings.Contains(sum, "No result of steady, restart in this folder") {
		t.Errorf("the kept scenarios are not named:\n%s", sum)
	}
	if !strings.Contains(sum, steadySection) {
		t.Errorf("steady's section changed:\n%s", sum)
	}
	rows := []string{steadyRow, "| lifecycle | tracebound lifecycle |", "| restart | tracebound restart |"}
	sections := []string{"\n## steady\n", "\n## lifecycle\n", "\n## restart\n"}
	for _, list := range [][]string{rows, sections} {
		last := -1
		for _, s := range list {
			at := strings.Index(sum, s)
			if at <= last || strings.Count(sum, s) != 1 {
				t.Errorf("%q at %d (after %d), %d times:\n%s", s, at, last, strings.Count(sum, s), sum)
			}
			last = at
		}
	}
	// A new result replaces what was kept.
	steady.Checks[0].Detail = "d3"
	if err := WriteSummary(dir, []scenario.Result{steady}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	if sum := string(data); !strings.Contains(sum, "steady check: d3") || strings.Contains(sum, "steady check: d1") || !strings.Contains(sum, "\n## lifecycle\n") {
		t.Errorf("after a new steady result:\n%s", sum)
	}
}
