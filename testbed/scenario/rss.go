package scenario

import "fmt"

// rssNoiseMargin: tracebound's peak RSS may exceed stock's by this fraction
// before it counts as worse. Peaks of the same pipeline under the same load
// vary run to run by about this much here (the testbed README's "Memory
// beside stock" lists the runs), so a smaller gap is not a finding.
const rssNoiseMargin = 0.10

// checkPeakRSSAtMostStock holds tracebound's peak RSS to stock's, beyond the
// noise. A resource figure, like the CPU figures: held in full mode,
// reported but not asserted in quick mode, whose short runs share the
// machine with the rest of make test.
func (r *Result) checkPeakRSSAtMostStock(name string, tbMiB, stockMiB float64) {
	r.check(Timing, name+"tracebound's peak RSS at most stock's (margin "+pct(rssNoiseMargin)+")",
		tbMiB <= stockMiB*(1+rssNoiseMargin),
		fmt.Sprintf("tracebound %.0f MiB, stock %.0f MiB (x%.2f)", tbMiB, stockMiB, safeDiv(tbMiB, stockMiB)))
}
