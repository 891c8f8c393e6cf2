package report

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebound/tracebound/testbed/scenario"
)

func TestWriteLoadSummary(t *testing.T) {
	dir := t.TempDir()
	tl := []scenario.Point{{T: 1, DeliveredRate: 1000, CPUPercent: 20, RSSMiB: 40}, {T: 2, DeliveredRate: 1000, CPUPercent: 22, RSSMiB: 41}}
	steady := scenario.Result{Scenario: "steady", Title: "Steady", Status: scenario.StatusPassed,
		Runs: []scenario.Run{
			{Label: "tracebound 1k/s", Pipeline: scenario.Tracebound, OfferedRate: 1000, DeliveredRate: 1000, CPUMicrosPerSpan: 3, PeakRSSMiB: 60, Timeline: tl},
			{Label: "baseline 1k/s", Pipeline: scenario.Baseline, OfferedRate: 1000, DeliveredRate: 1000, CPUMicrosPerSpan: 2, PeakRSSMiB: 40, Timeline: tl},
		},
		Checks: []scenario.Check{{Name: "every span delivered", Kind: scenario.Correctness, Pass: true, Detail: "1000 of 1000"}},
	}
	skipped := scenario.Result{Scenario: "routing", Status: scenario.StatusSkipped, Reason: "skipped: lacks processors/trace_routing"}
	for _, r := range []scenario.Result{steady, skipped} {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "steady.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "routing.png")); !os.IsNotExist(err) {
		t.Error("a skipped scenario has no chart")
	}
	results, err := Load(dir)
	if err != nil || len(results) != 2 || results[0].Scenario != "steady" {
		t.Fatalf("load: %v %+v", err, results)
	}
	if err := WriteSummary(dir, results, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	for _, want := range []string{
		"| [steady](steady.png) | tracebound 1k/s | 1,000 | 1,000 | 0.00% | 0 | 0 | 3.00 | 60 | CPU/span x1.50, RSS x1.50 | passed |",
		"skipped: lacks processors/trace_routing",
		"![steady](steady.png)",
	} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// TestMaxRateLowerBound: a ramp that never fell under 99% is shown as a
// floor, in the rate and in the ratio to the baseline.
func TestMaxRateLowerBound(t *testing.T) {
	dir := t.TempDir()
	res := scenario.Result{Scenario: "max-rate", Status: scenario.StatusPassed, Runs: []scenario.Run{
		{Label: "tracebound ramp", Pipeline: scenario.Tracebound, OfferedRate: 437000, DeliveredRate: 436900, RateIsLowerBound: true},
		{Label: "baseline ramp", Pipeline: scenario.Baseline, OfferedRate: 328000, DeliveredRate: 328000},
	}}
	if err := WriteSummary(dir, []scenario.Result{res}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	for _, want := range []string{"| tracebound ramp | ≥ 437,000 | 436,900 |", "max rate ≥ x1.33", "| baseline ramp | 328,000 |"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// TestVersusRouting: routing's rows show the healthy destination's share,
// which differs between the pipelines; the CPU ratio still compares with
// the scenario's baseline run, per accepted span.
func TestVersusRouting(t *testing.T) {
	res := scenario.Result{Scenario: "routing", Runs: []scenario.Run{
		{Label: "tracebound routing", Pipeline: scenario.Tracebound, OfferedRate: 18000, CPUMicrosPerSpan: 6, PeakRSSMiB: 50},
		{Label: "baseline routing", Pipeline: scenario.Baseline, OfferedRate: 20000, CPUMicrosPerSpan: 8, PeakRSSMiB: 40},
	}}
	if got, want := versus(res, res.Runs[0]), "CPU/span x0.75, RSS x1.25"; got != want {
		t.Errorf("versus = %q, want %q", got, want)
	}
	if got := versus(res, res.Runs[1]); got != "" {
		t.Errorf("a baseline row compares with nothing, got %q", got)
	}
	dir := t.TempDir()
	if err := WriteSummary(dir, []scenario.Result{res}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	if !strings.Contains(string(sum), "CPU time per span it accepted") || strings.Contains(string(sum), "at the same offered rate") {
		t.Errorf("summary header does not say what CPU per span divides by:\n%s", sum)
	}
}

// TestVersusPairsRamps: max-rate ramps tracebound, baseline, baseline,
// tracebound; each tracebound ramp compares with the baseline ramp beside
// it, and steady's runs with the baseline at the same rate.
func TestVersusPairsRamps(t *testing.T) {
	res := scenario.Result{Scenario: "max-rate", Runs: []scenario.Run{
		{Label: "tracebound ramp 1", Pipeline: scenario.Tracebound, OfferedRate: 400000, CPUMicrosPerSpan: 2},
		{Label: "baseline ramp 1", Pipeline: scenario.Baseline, OfferedRate: 320000, CPUMicrosPerSpan: 4},
		{Label: "baseline ramp 2", Pipeline: scenario.Baseline, OfferedRate: 500000, CPUMicrosPerSpan: 2},
		{Label: "tracebound ramp 2", Pipeline: scenario.Tracebound, OfferedRate: 400000, CPUMicrosPerSpan: 3},
	}}
	if got, want := versus(res, res.Runs[0]), "CPU/span x0.50, max rate x1.25"; got != want {
		t.Errorf("ramp 1: %q, want %q", got, want)
	}
	if got, want := versus(res, res.Runs[3]), "CPU/span x1.50, max rate x0.80"; got != want {
		t.Errorf("ramp 2: %q, want %q", got, want)
	}
	steady := scenario.Result{Scenario: "steady", Runs: []scenario.Run{
		{Label: "tracebound 1k/s", Pipeline: scenario.Tracebound, OfferedRate: 1000, CPUMicrosPerSpan: 3},
		{Label: "baseline 1k/s", Pipeline: scenario.Baseline, OfferedRate: 1000, CPUMicrosPerSpan: 6},
		{Label: "baseline 3k/s", Pipeline: scenario.Baseline, OfferedRate: 3000, CPUMicrosPerSpan: 2},
		{Label: "tracebound 3k/s", Pipeline: scenario.Tracebound, OfferedRate: 3000, CPUMicrosPerSpan: 1},
		{Label: "tracebound 5k/s", Pipeline: scenario.Tracebound, OfferedRate: 5000, CPUMicrosPerSpan: 1},
		{Label: "baseline 5k/s", Pipeline: scenario.Baseline, OfferedRate: 5000, CPUMicrosPerSpan: 4},
	}}
	for i, want := range map[int]string{0: "CPU/span x0.50", 3: "CPU/span x0.50", 4: "CPU/span x0.25"} {
		if got := versus(steady, steady.Runs[i]); got != want {
			t.Errorf("%s: %q, want %q", steady.Runs[i].Label, got, want)
		}
	}
}

// TestLossFromJSON: the summary rebuilt from the JSON files shows the loss
// over the spans sent and the unsent spans in their own column; only a run
// that counts the unsent spans (restart) has them in its loss, and says so.
func TestLossFromJSON(t *testing.T) {
	dir := t.TempDir()
	runs := map[string]scenario.Run{
		"max-rate": {Label: "tracebound ramp", Pipeline: scenario.Tracebound, OfferedRate: 30000, DeliveredRate: 29900,
			SentSpans: 88_000, DeliveredSpans: 88_000, UnofferedSpans: 12_000},
		"restart": {Label: "baseline restart", Pipeline: scenario.Baseline, OfferedRate: 2000, DeliveredRate: 1000,
			SentSpans: 5_000, DeliveredSpans: 4_500, UnofferedSpans: 5_000, LossCountsUnsent: true},
	}
	for name, run := range runs {
		run.Loss = scenario.RunLoss(run.DeliveredSpans, run.SentSpans, run.UnofferedSpans, run.LossCountsUnsent)
		if err := Write(dir, scenario.Result{Scenario: name, Status: scenario.StatusPassed, Runs: []scenario.Run{run}}); err != nil {
			t.Fatal(err)
		}
	}
	results, err := Load(dir)
	if err != nil || len(results) != 2 {
		t.Fatalf("load: %v %+v", err, results)
	}
	for _, r := range results {
		run := r.Runs[0]
		if got := scenario.RunLoss(run.DeliveredSpans, run.SentSpans, run.UnofferedSpans, run.LossCountsUnsent); got != run.Loss {
			t.Errorf("%s: loss %f in the JSON, %f derived from its figures", r.Scenario, run.Loss, got)
		}
	}
	if err := WriteSummary(dir, results, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	for _, want := range []string{
		"| tracebound ramp | 30,000 | 29,900 | 0.00% | 12,000 |",
		"| baseline restart | 2,000 | 1,000 | 55.00% incl. unsent | 5,000 |",
		"Loss is 1 - delivered / sent",
		"1 - delivered / (sent + unsent)",
	} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// A scenario's own tables are rendered under its checks, cells with a "|"
// escaped.
func TestScenarioTable(t *testing.T) {
	dir := t.TempDir()
	r := scenario.Result{Scenario: "backpressure", Title: "B", Status: scenario.StatusFailed,
		Tables: []scenario.Table{{Title: "Per side", Header: []string{"Case", "Refused"}, Rows: [][]string{{"(a) bursts", "1|2"}}, Notes: []string{"a note"}}}}
	if err := WriteSummary(dir, []scenario.Result{r}, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	for _, want := range []string{"**Per side**\n\n| Case | Refused |\n|---|---|\n| (a) bursts | 1\\|2 |\n", "\na note\n"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}
