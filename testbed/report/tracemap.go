package report

import (
	"fmt"
	"html"
	"image/color"
	"os"
	"strings"

	"github.com/tracebound/tracebound/testbed/jaeger"
	"github.com/tracebound/tracebound/testbed/scenario"
)

// Layout of the trace map, in SVG user units (pixels).
const (
	mapPanelWidth = 560.0
	mapLabelWidth = 230.0
	mapGap        = 40.0
	mapTop        = 64.0
	mapRowGap     = 4.0
	// mapRowPerMax is the height of a row holding max_spans spans: every
	// row is as tall as its span count, so the segments together stand as
	// tall as the unsplit trace beside them.
	mapRowPerMax = 18.0
	mapMinRow    = 3.0
	mapAxis      = 34.0
)

// WriteTraceMap draws, from what the backend's query API returned, the
// lifecycle trace of each run as a timeline: one row per trace holding its
// spans (a segment, or the whole trace), as tall as its span count, its
// handler spans as a bar over the time they cover (the thin line: the
// whole trace, lifecycle root included), and from every segment after the
// first a line up to the first, where the parent its re-rooted spans link
// to lives. Runs side by side, tracebound first. It writes an SVG to path.
func WriteTraceMap(res scenario.Result, path string) error {
	tm := res.TraceMap
	if tm == nil || len(tm.Runs) == 0 {
		return fmt.Errorf("%s: no trace map", res.Scenario)
	}
	var panels []string
	height := 0.0
	for i, run := range tm.Runs {
		x := float64(i) * (mapPanelWidth + mapGap)
		svg, h := mapPanel(run, tm.MaxSpans, x)
		panels = append(panels, svg)
		height = max(height, h)
	}
	width := float64(len(tm.Runs))*(mapPanelWidth+mapGap) - mapGap + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`+"\n",
		width, height+10, width, height+10)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">%s: the lifecycle trace as %s returned it (max_spans %d)</text>`+"\n",
		html.EscapeString(res.Scenario), html.EscapeString(tm.Backend), tm.MaxSpans)
	for _, p := range panels {
		b.WriteString(p)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// mapPanel draws one run's lifecycle trace at x; it returns the SVG and the
// panel's bottom.
func mapPanel(run scenario.TraceMapRun, maxSpans int, x float64) (string, float64) {
	traces := jaeger.Lifecycle(run.Traces)
	fill := hexColor(colorBaseline)
	if run.Pipeline == scenario.Tracebound {
		fill = hexColor(colorTracebound)
	}
	var b strings.Builder
	total := 0
	var t0, t1 int64
	for i, t := range traces {
		total += t.Spans
		if i == 0 || t.Start < t0 {
			t0 = t.Start
		}
		t1 = max(t1, t.End)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="44" font-size="12" font-weight="bold">%s: %d trace(s), %s spans</text>`+"\n",
		x+10, html.EscapeString(run.Label), len(traces), thousands(total))
	barX := x + 10 + mapLabelWidth
	barW := mapPanelWidth - mapLabelWidth - 10
	at := func(us int64) float64 {
		if t1 <= t0 {
			return barX
		}
		return barX + barW*float64(us-t0)/float64(t1-t0)
	}
	rowH := func(spans int) float64 {
		return max(mapMinRow, mapRowPerMax*float64(spans)/float64(max(1, maxSpans)))
	}
	y := mapTop
	var firstMid float64
	for i, t := range traces {
		h := rowH(t.Spans)
		mid := y + h/2
		if i == 0 {
			firstMid = mid
		}
		label := fmt.Sprintf("%s…  %s spans", t.TraceID[:8], thousands(t.Spans))
		if t.Segment > 0 || len(traces) > 1 {
			label = fmt.Sprintf("seg %d  %s", t.Segment, label)
		}
		if t.LinksOut > 0 {
			label += fmt.Sprintf(", %d links", t.LinksOut)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", x+10, mid, html.EscapeString(label))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-width="1"/>`+"\n", at(t.Start), mid, at(t.End), mid)
		if t.BodyEnd > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
				at(t.BodyStart), y, max(1, at(t.BodyEnd)-at(t.BodyStart)), h, fill)
		}
		if i > 0 && t.LinksOut > 0 {
			// The links back to the origin: from where this segment's
			// spans start, up to the first segment.
			lx := at(t.BodyStart)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444" stroke-width="1" stroke-dasharray="3,2"/>`+"\n", lx, y, lx, firstMid+3)
			fmt.Fprintf(&b, `<path d="M%.1f %.1f l-3 5 h6 z" fill="#444"/>`+"\n", lx, firstMid+1)
		}
		y += h + mapRowGap
	}
	// Time axis: seconds since the trace's first span started.
	axisY := y + 4
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", barX, axisY, barX+barW, axisY)
	secs := float64(t1-t0) / 1e6
	for i := 0; i <= 4; i++ {
		tx := barX + barW*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", tx, axisY, tx, axisY+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.2f s</text>`+"\n", tx, axisY+15, secs*float64(i)/4)
	}
	note := "row height: spans; bar: its spans but the lifecycle root; line: the whole trace"
	if len(traces) > 1 {
		note += "; dashed: links back to the origin"
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#555">%s</text>`+"\n", x+10, axisY+mapAxis-4, note)
	return b.String(), axisY + mapAxis
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// thousands prints n with thousands separators.
func thousands(n int) string { return num(float64(n)) }
