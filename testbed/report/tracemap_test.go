package report

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebound/tracebound/testbed/jaeger"
	"github.com/tracebound/tracebound/testbed/scenario"
)

// TestTraceMap: one row per trace of the lifecycle trace, as tall as its
// spans, a link line from each later segment, the stock trace beside; a
// valid SVG, shown in SUMMARY.md.
func TestTraceMap(t *testing.T) {
	origin := "ab000000000000000000000000000001"
	seg := func(id string, k int64, spans int, start int64) jaeger.TraceSummary {
		s := jaeger.TraceSummary{TraceID: id, Spans: spans, Origin: origin, Segment: k, Start: start, End: start + 1000, BodyStart: start, BodyEnd: start + 1000}
		if k > 0 {
			s.LinksOut = spans / 3
		}
		return s
	}
	tb := []jaeger.TraceSummary{
		seg("cd000000000000000000000000000002", 1, 2000, 3000),
		seg(origin, 0, 2010, 1000),
		seg("ef000000000000000000000000000003", 2, 990, 5000),
		// A short trace of a tenant: not part of the lifecycle trace.
		{TraceID: "01000000000000000000000000000009", Spans: 10, Origin: "01000000000000000000000000000009", Start: 1500, End: 1600},
	}
	stock := []jaeger.TraceSummary{{TraceID: origin, Spans: 5000, Origin: origin, Start: 1000, End: 7000, BodyStart: 1000, BodyEnd: 7000}}
	res := scenario.Result{Scenario: "real-backend", Title: "Real backend", Status: scenario.StatusPassed,
		TraceMap: &scenario.TraceMap{Backend: "Jaeger", MaxSpans: 2000, Runs: []scenario.TraceMapRun{
			{Label: "tracebound into Jaeger", Pipeline: scenario.Tracebound, Traces: tb},
			{Label: "baseline into Jaeger", Pipeline: scenario.Baseline, Traces: stock},
		}}}
	dir := t.TempDir()
	if err := Write(dir, res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "real-backend-traces.svg"))
	if err != nil {
		t.Fatal(err)
	}
	svg := string(data)
	dec := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// The background, three segments, one stock trace.
	if rects != 5 {
		t.Errorf("%d rects, expected 5:\n%s", rects, svg)
	}
	for _, want := range []string{
		"seg 0  ab000000…  2,010 spans", "seg 1  cd000000…  2,000 spans, 666 links", "seg 2  ef000000…  990 spans, 330 links",
		"tracebound into Jaeger: 3 trace(s), 5,000 spans", "baseline into Jaeger: 1 trace(s), 5,000 spans", "ab000000…  5,000 spans",
		`stroke-dasharray="3,2"`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("picture lacks %q", want)
		}
	}
	if strings.Contains(svg, "01000000…") {
		t.Error("a short trace was drawn as part of the lifecycle trace")
	}
	// The stock trace stands as tall as the segments together: 5,000
	// spans at 18 units per 2,000.
	if !strings.Contains(svg, `height="45.0" fill="#ff7f0e"`) {
		t.Errorf("stock row not 45 units tall:\n%s", svg)
	}
	results, err := Load(dir)
	if err != nil || len(results) != 1 || results[0].Picture != "real-backend-traces.svg" {
		t.Fatalf("load: %v %+v", err, results)
	}
	if err := WriteSummary(dir, results, ThisMachine("bin/x")); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	if !strings.Contains(string(sum), "(real-backend-traces.svg)") {
		t.Errorf("summary does not show the picture:\n%s", sum)
	}
}
