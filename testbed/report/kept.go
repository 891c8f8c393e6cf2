package report

import (
	"os"
	"sort"
	"strings"

	"github.com/tracebound/tracebound/testbed/scenario"
)

// keptSummary is what an earlier SUMMARY.md said of each scenario: its table
// rows and its section, verbatim. The JSON results are not committed, so a
// run of some scenarios into the committed folder would otherwise drop the
// others from the committed report.
type keptSummary struct {
	rows, sections map[string]string
}

// previousSummary reads the SUMMARY.md at path; empty when there is none.
func previousSummary(path string) keptSummary {
	k := keptSummary{rows: map[string]string{}, sections: map[string]string{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return k
	}
	text := string(data)
	for _, line := range strings.SplitAfter(text, "\n") {
		if name := rowScenario(line); name != "" {
			k.rows[name] += line
		}
	}
	// A section runs from its "## name" line to the next "## " line.
	starts := []int{}
	for i := 0; ; {
		j := strings.Index(text[i:], "\n## ")
		if j < 0 {
			break
		}
		starts = append(starts, i+j)
		i += j + 1
	}
	for n, at := range starts {
		end := len(text)
		if n+1 < len(starts) {
			end = starts[n+1]
		}
		name, _, _ := strings.Cut(text[at+len("\n## "):end], "\n")
		k.sections[strings.TrimSpace(name)] = text[at:end]
	}
	return k
}

// rowScenario is the scenario a row of the summary table names: "| [name](chart) |"
// or "| name |"; "" for any other line.
func rowScenario(line string) string {
	cell, ok := strings.CutPrefix(line, "| ")
	if !ok {
		return ""
	}
	cell, _, _ = strings.Cut(cell, " |")
	if rest, ok := strings.CutPrefix(cell, "["); ok {
		cell, _, _ = strings.Cut(rest, "]")
	}
	if _, known := scenario.Find(cell); !known {
		return ""
	}
	return cell
}

// summaryOrder is the scenarios the summary shows, in the order of
// scenario.All, those of results first found there, then any other
// results; kept says which of the rest the earlier summary had.
func summaryOrder(results map[string]scenario.Result, kept keptSummary) (order, fromKept []string) {
	for _, sc := range scenario.All() {
		if _, ok := results[sc.Name]; ok {
			order = append(order, sc.Name)
		} else if kept.sections[sc.Name] != "" {
			order = append(order, sc.Name)
			fromKept = append(fromKept, sc.Name)
		}
	}
	var other []string
	for name := range results {
		if _, known := scenario.Find(name); !known {
			other = append(other, name)
		}
	}
	sort.Strings(other)
	return append(order, other...), fromKept
}
