// Package report writes the testbed's results: one JSON file per scenario,
// a chart per scenario (PNG, drawn with gonum.org/v1/plot), and SUMMARY.md,
// a table of every scenario found in the results folder.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/scenario"
)

// Write stores res as <dir>/<scenario>.json with its chart <scenario>.png.
func Write(dir string, res scenario.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(res.Runs) > 0 {
		res.Chart = res.Scenario + ".png"
		if err := WriteChart(res, filepath.Join(dir, res.Chart)); err != nil {
			return fmt.Errorf("chart of %s: %w", res.Scenario, err)
		}
	}
	if res.TraceMap != nil && len(res.TraceMap.Runs) > 0 {
		res.Picture = res.Scenario + "-traces.svg"
		if err := WriteTraceMap(res, filepath.Join(dir, res.Picture)); err != nil {
			return fmt.Errorf("trace map of %s: %w", res.Scenario, err)
		}
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, res.Scenario+".json"), data, 0o644)
}

// Load reads every <scenario>.json of dir, in the order of scenario.All.
func Load(dir string) ([]scenario.Result, error) {
	var out []scenario.Result
	for _, sc := range scenario.All() {
		data, err := os.ReadFile(filepath.Join(dir, sc.Name+".json"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var r scenario.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s.json: %w", sc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Machine describes where the results were measured.
type Machine struct {
	CPUs    int
	CPU     string
	GoVer   string
	Binary  string
	Version string
}

// ThisMachine reads the CPU model from /proc/cpuinfo.
func ThisMachine(binary string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVer: runtime.Version(), Binary: binary}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// WriteSummary writes <dir>/SUMMARY.md from the results.
func WriteSummary(dir string, results []scenario.Result, m Machine) error {
	var b strings.Builder
	b.WriteString("# Testbed summary\n\n")
	fmt.Fprintf(&b, "Written %s on %d CPUs (%s), %s, binary `%s`. ", time.Now().UTC().Format("2006-01-02 15:04 MST"), m.CPUs, m.CPU, m.GoVer, m.Binary)
	b.WriteString("The load generator and the mock backends run on the same machine as the collector, so every figure includes their competition for the CPUs. ")
	b.WriteString("CPU % is the collector's mean from ready to stop (100 = one core); CPU µs/span is its CPU time per span it accepted from the generator; ")
	b.WriteString("\"vs baseline\" divides tracebound's figure by the stock pipeline's (otlp receiver on `transport: unix` -> memory_limiter -> batch -> otlp_http, memory_limiter set as on tracebound) in the same scenario under the same load ")
	b.WriteString("(the baseline run at the same rate, else the one run beside it: max-rate's ramps differ in their limits, and routing's offered and delivered columns are the healthy destination's share, which differs between the pipelines although the generator's rate is the same). ")
	b.WriteString("Loss is 1 - delivered / sent, over the spans the generator sent (routing: the healthy destination's, 1 - received / routed to it). ")
	b.WriteString("Unsent is the spans the generator's schedule held but never sent because every worker was busy (retrying refusals, or short of CPU in max-rate's overload); they are not in the loss, ")
	b.WriteString("save where marked \"incl. unsent\", whose loss is 1 - delivered / (sent + unsent): in restart the spans due while the socket was dead count as lost, in backpressure those its producers never sent (queue full, or still queued at the end), so its loss is 1 - delivered / offered (see the testbed README).\n\n")

	byName := map[string]scenario.Result{}
	for _, r := range results {
		byName[r.Scenario] = r
	}
	kept := previousSummary(filepath.Join(dir, "SUMMARY.md"))
	order, fromKept := summaryOrder(byName, kept)
	if len(fromKept) > 0 {
		fmt.Fprintf(&b, "No result of %s in this folder: their rows and sections are kept from the SUMMARY.md that was here (each section gives the date of its run).\n\n", strings.Join(fromKept, ", "))
	}
	b.WriteString("| Scenario | Pipeline | Offered spans/s | Delivered spans/s | Loss | Unsent spans | CPU % | CPU µs/span | Peak RSS MiB | vs baseline | Status |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, name := range order {
		if r, ok := byName[name]; ok {
			writeRows(&b, r)
		} else {
			b.WriteString(kept.rows[name])
		}
	}
	for _, name := range order {
		if r, ok := byName[name]; ok {
			writeSection(&b, r)
		} else {
			b.WriteString(kept.sections[name])
		}
	}
	return os.WriteFile(filepath.Join(dir, "SUMMARY.md"), []byte(b.String()), 0o644)
}

// writeRows writes the summary table's rows of one scenario.
func writeRows(b *strings.Builder, r scenario.Result) {
	link := r.Scenario
	if r.Chart != "" {
		link = fmt.Sprintf("[%s](%s)", r.Scenario, r.Chart)
	}
	if len(r.Runs) == 0 {
		fmt.Fprintf(b, "| %s | | | | | | | | | | %s |\n", link, statusCell(r))
		return
	}
	for _, run := range r.Runs {
		offered := num(run.OfferedRate)
		if run.RateIsLowerBound {
			offered = "≥ " + offered
		}
		loss := fmt.Sprintf("%.2f%%", 100*run.Loss)
		if run.LossCountsUnsent {
			loss += " incl. unsent"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.0f | %.2f | %.0f | %s | %s |\n",
			link, run.Label, offered, num(run.DeliveredRate), loss, num(float64(run.UnofferedSpans)), run.CPUPercent,
			run.CPUMicrosPerSpan, run.PeakRSSMiB, versus(r, run), statusCell(r))
	}
}

// writeSection writes one scenario's section: checks, tables, ratios,
// notes, pictures.
func writeSection(b *strings.Builder, r scenario.Result) {
	fmt.Fprintf(b, "\n## %s\n\n%s. **%s**", r.Scenario, r.Title, r.Status)
	if r.Quick {
		b.WriteString(" (quick mode)")
	}
	fmt.Fprintf(b, ", %.0f s, run %s, load average %.2f at the start.\n\n", r.Seconds, r.Started.Format("2006-01-02 15:04 MST"), r.LoadAvg)
	if r.Reason != "" {
		fmt.Fprintf(b, "%s\n\n", r.Reason)
	}
	if len(r.Components) > 0 {
		fmt.Fprintf(b, "tracebound pipeline: `%s`\n\n", strings.Join(r.Components, " -> "))
	}
	for _, c := range r.Checks {
		mark := "pass"
		switch {
		case c.Kind == scenario.Info:
			mark = "info"
		case !c.Pass && c.Kind == scenario.Timing && r.Quick:
			mark = "FAIL (timing, not asserted in quick mode)"
		case !c.Pass:
			mark = "FAIL"
		}
		fmt.Fprintf(b, "- %s [%s] %s: %s\n", mark, c.Kind, c.Name, c.Detail)
	}
	for _, t := range r.Tables {
		writeTable(b, t)
	}
	if len(r.Ratios) > 0 {
		keys := make([]string, 0, len(r.Ratios))
		for k := range r.Ratios {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\nRatios tracebound / baseline:")
		for _, k := range keys {
			fmt.Fprintf(b, " %s x%.2f;", k, r.Ratios[k])
		}
		b.WriteString("\n")
	}
	for _, run := range r.Runs {
		for _, n := range run.Notes {
			fmt.Fprintf(b, "\n_%s_: %s\n", run.Label, n)
		}
	}
	if r.Picture != "" {
		fmt.Fprintf(b, "\n![%s: the lifecycle trace in the backend](%s)\n", r.Scenario, r.Picture)
	}
	if r.Chart != "" {
		fmt.Fprintf(b, "\n![%s](%s)\n", r.Scenario, r.Chart)
	}
}

// writeTable renders one of a scenario's own tables.
func writeTable(b *strings.Builder, t scenario.Table) {
	if len(t.Header) == 0 {
		return
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	fmt.Fprintf(b, "\n**%s**\n\n|", t.Title)
	for _, h := range t.Header {
		fmt.Fprintf(b, " %s |", cell(h))
	}
	b.WriteString("\n|")
	for range t.Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		b.WriteString("|")
		for _, c := range row {
			fmt.Fprintf(b, " %s |", cell(c))
		}
		b.WriteString("\n")
	}
	for _, n := range t.Notes {
		fmt.Fprintf(b, "\n%s\n", n)
	}
}

func statusCell(r scenario.Result) string {
	if r.Status == scenario.StatusSkipped {
		return "skipped: " + strings.TrimPrefix(r.Reason, "skipped: ")
	}
	return r.Status
}

// versus compares a tracebound run with the baseline run of the same
// scenario at the same offered rate, or else the baseline run nearest to it
// in the order they ran (routing and max-rate rows differ in offered rate
// but share one load; max-rate's ramps run tracebound, baseline, baseline,
// tracebound, so each tracebound ramp pairs with the baseline ramp beside
// it).
func versus(r scenario.Result, run scenario.Run) string {
	if run.Pipeline != scenario.Tracebound {
		return ""
	}
	at := -1
	for i := range r.Runs {
		if r.Runs[i].Label == run.Label {
			at = i
		}
	}
	var base *scenario.Run
	dist, sameRate := 0, false
	for i := range r.Runs {
		b := &r.Runs[i]
		if b.Pipeline != scenario.Baseline {
			continue
		}
		same := b.OfferedRate == run.OfferedRate
		d := abs(i - at)
		if base == nil || (same && !sameRate) || (same == sameRate && d < dist) {
			base, dist, sameRate = b, d, same
		}
	}
	if base == nil {
		return ""
	}
	var parts []string
	if base.CPUMicrosPerSpan > 0 {
		parts = append(parts, fmt.Sprintf("CPU/span x%.2f", run.CPUMicrosPerSpan/base.CPUMicrosPerSpan))
	}
	if base.PeakRSSMiB > 0 {
		parts = append(parts, fmt.Sprintf("RSS x%.2f", run.PeakRSSMiB/base.PeakRSSMiB))
	}
	if r.Scenario == "max-rate" && base.OfferedRate > 0 {
		// A ramp that never fell under 99% gives a floor, not a limit.
		switch {
		case run.RateIsLowerBound && base.RateIsLowerBound:
			parts = append(parts, "max rate: neither limit reached")
		case run.RateIsLowerBound:
			parts = append(parts, fmt.Sprintf("max rate ≥ x%.2f", run.OfferedRate/base.OfferedRate))
		case base.RateIsLowerBound:
			parts = append(parts, fmt.Sprintf("max rate ≤ x%.2f", run.OfferedRate/base.OfferedRate))
		default:
			parts = append(parts, fmt.Sprintf("max rate x%.2f", run.OfferedRate/base.OfferedRate))
		}
	}
	return strings.Join(parts, ", ")
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// num prints a rate with thousands separators.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
