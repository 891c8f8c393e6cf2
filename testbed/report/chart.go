package report

import (
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tracebound/tracebound/testbed/scenario"
)

var (
	colorTracebound = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorBaseline   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// panel is one of the chart's three stacked plots.
type panel struct {
	title, ylabel string
	value         func(scenario.Point) float64
}

var panels = []panel{
	{"Delivered rate (dashed: offered)", "spans/s", func(p scenario.Point) float64 { return p.DeliveredRate }},
	{"Collector CPU", "% of one core", func(p scenario.Point) float64 { return p.CPUPercent }},
	{"Collector RSS", "MiB", func(p scenario.Point) float64 { return p.RSSMiB }},
}

// WriteChart draws the delivered rate, CPU and RSS of every run of res over
// the scenario's time, tracebound in blue and the baseline in orange, and
// writes it as a PNG to path.
func WriteChart(res scenario.Result, path string) error {
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		if i == 0 {
			p.Title.Text = res.Scenario + ": " + pn.title + " (blue: tracebound, orange: stock baseline)"
		}
		p.X.Label.Text = "seconds since the scenario started"
		p.Y.Label.Text = pn.ylabel
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		for _, run := range res.Runs {
			if len(run.Timeline) == 0 {
				continue
			}
			xys := make(plotter.XYs, len(run.Timeline))
			for j, pt := range run.Timeline {
				xys[j].X, xys[j].Y = pt.T, pn.value(pt)
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			line.Color = colorTracebound
			if run.Pipeline == scenario.Baseline {
				line.Color = colorBaseline
			}
			line.Width = vg.Points(1.5)
			p.Add(line)
			if i == 0 {
				// The rate the generator offered, dashed.
				sent := make(plotter.XYs, len(run.Timeline))
				for j, pt := range run.Timeline {
					sent[j].X, sent[j].Y = pt.T, pt.SentRate
				}
				dashed, err := plotter.NewLine(sent)
				if err != nil {
					return err
				}
				dashed.Color = line.Color
				dashed.Width = vg.Points(1)
				dashed.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(dashed)
			}
		}
		plots[i] = []*plot.Plot{p}
	}
	const w, h = 10 * vg.Inch, 9 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
