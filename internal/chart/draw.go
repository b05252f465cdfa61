package chart

import (
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colors for series and bands that do not name one: distinct, readable on
// white, and in the same order on every chart.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x4e, B: 0x9a, A: 0xff}, // blue
	color.RGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0xff}, // orange
	color.RGBA{R: 0x2e, G: 0x8b, B: 0x3e, A: 0xff}, // green
	color.RGBA{R: 0x8e, G: 0x3b, B: 0xa8, A: 0xff}, // purple
	color.RGBA{R: 0xb0, G: 0x24, B: 0x2c, A: 0xff}, // red
	color.RGBA{R: 0x50, G: 0x50, B: 0x50, A: 0xff}, // grey
}

// windowPalette is pale and opaque: windows lie behind the data, so lines and
// bands drawn over them stay legible.
var windowPalette = []color.Color{
	color.RGBA{R: 0xff, G: 0xe0, B: 0xb2, A: 0xff}, // amber
	color.RGBA{R: 0xd7, G: 0xe8, B: 0xfb, A: 0xff}, // blue
	color.RGBA{R: 0xf8, G: 0xd7, B: 0xda, A: 0xff}, // red
	color.RGBA{R: 0xdc, G: 0xef, B: 0xdc, A: 0xff}, // green
	color.RGBA{R: 0xe9, G: 0xdc, B: 0xf2, A: 0xff}, // purple
}

// bandAlpha lets the lines and windows under a band show through it.
const bandAlpha = 0x50

const (
	lineWidth      = 1.6
	titleSize      = 15
	panelTitleSize = 12
	legendSize     = 10
	windowTextSize = 9
	// The legend column's gap from the plot, and the space between stacked
	// panels.
	legendGap  = 10
	panelGap   = 6
	outerSpace = 8
)

// draw lays the panels out on the canvas: a title, then the panels from top
// to bottom with their data areas aligned left and right (value labels of
// different widths would otherwise shift the time axes against each other),
// and each panel's legend in a column to its right, clear of the data.
func (c Chart) draw(canvas vg.CanvasSizer) {
	dc := draw.Crop(draw.New(canvas), outerSpace, -outerSpace, outerSpace, -outerSpace)
	if c.Title != "" {
		sty := textStyle(titleSize, draw.XCenter, draw.YTop)
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y}, c.Title)
		dc.Max.Y -= sty.Rectangle(c.Title).Size().Y + panelGap
	}

	xmin, xmax, ok := c.timeRange()
	if !ok {
		xmin, xmax = 0, 1
	}
	if xmin == xmax {
		// One moment alone: a minute around it, so its points are drawn in the
		// middle of an axis with readable ticks.
		xmin, xmax = xmin-30, xmax+30
	}
	// A little room at both ends, so dots and bars there are drawn whole.
	margin := (xmax - xmin) * 0.015
	xmin, xmax = xmin-margin, xmax+margin
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	zone, _ := time.Unix(int64(xmin), 0).In(loc).Zone()
	colors := windowColors(c.Windows)

	plots := make([]*plot.Plot, len(c.Panels))
	legends := make([]plot.Legend, len(c.Panels))
	var legendWidth vg.Length
	for i, panel := range c.Panels {
		last := i == len(c.Panels)-1
		p, legend := panel.plot(i == 0, c.Windows, colors)
		p.X.Min, p.X.Max = xmin, xmax
		p.X.Tick.Marker = timeTicks{loc: loc, labelled: last}
		if last {
			p.X.Label.Text = "time (" + zone + ")"
		}
		plots[i], legends[i] = p, legend
		legendWidth = max(legendWidth, legendExtent(legend))
	}
	if legendWidth > 0 {
		legendWidth += legendGap
	}
	areas := stack(dc, c.Panels)
	for i := range areas {
		areas[i] = draw.Crop(areas[i], 0, -legendWidth, 0, 0)
	}
	alignDataAreas(plots, areas)
	for i, p := range plots {
		p.Draw(areas[i])
		data := p.DataCanvas(areas[i])
		column := draw.Canvas{Canvas: areas[i].Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: areas[i].Max.X + legendGap, Y: data.Min.Y},
			Max: vg.Point{X: areas[i].Max.X + legendWidth, Y: data.Max.Y},
		}}
		legends[i].Draw(column)
	}
}

// plot builds one panel's plot (its legend kept apart, to be drawn in the
// column beside it). Windows are added first so everything else is drawn
// over them; the first panel labels them.
func (panel Panel) plot(first bool, windows []Window, colors map[string]color.Color) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = panel.Title
	p.Title.TextStyle = textStyle(panelTitleSize, draw.XCenter, draw.YTop)
	p.Y.Label.Text = panel.YLabel
	p.X.Padding, p.Y.Padding = 0, 0
	legend := plot.NewLegend()
	legend.Left, legend.Top = true, true
	legend.Padding = vg.Points(3)
	legend.TextStyle = textStyle(legendSize, draw.XLeft, draw.YBottom)

	for _, w := range windows {
		shade := &windowShade{from: unixSeconds(w.From), to: unixSeconds(w.To), color: colorOr(w.Color, colors[w.Label])}
		if first {
			shade.label = w.Label
		}
		p.Add(shade)
	}
	if first {
		seen := map[string]bool{}
		for _, w := range windows {
			if w.Label != "" && !seen[w.Label] {
				seen[w.Label] = true
				legend.Add(w.Label, &windowShade{color: colorOr(w.Color, colors[w.Label])})
			}
		}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe4}
	grid.Horizontal.Color = color.Gray{Y: 0xe4}
	p.Add(grid)

	for i, b := range panel.Bands {
		shade := newBandShade(b, colorOr(b.Color, translucent(palette[(i+1)%len(palette)], bandAlpha)))
		p.Add(shade)
		if b.Name != "" {
			legend.Add(b.Name, shade)
		}
	}
	for i, s := range panel.Series {
		thumb := addSeries(p, s, colorOr(s.Color, palette[i%len(palette)]))
		if s.Name != "" {
			legend.Add(s.Name, thumb)
		}
	}

	finishValueAxis(p, panel)
	return p, legend
}

// finishValueAxis settles the value range: headroom above the data, 0 at the
// bottom when asked, and a usable range when the data gives none.
func finishValueAxis(p *plot.Plot, panel Panel) {
	lo, hi := p.Y.Min, p.Y.Max
	if lo > hi { // no finite data
		lo, hi = 0, 1
	}
	if panel.ZeroBased {
		lo = math.Min(lo, 0)
	}
	if lo == hi {
		pad := math.Max(math.Abs(hi)*0.1, 1)
		if !panel.ZeroBased || lo > 0 {
			lo -= pad
		}
		hi += pad
	}
	span := hi - lo
	hi += span * 0.06
	if !panel.ZeroBased {
		lo -= span * 0.06
	}
	p.Y.Min, p.Y.Max = lo, hi
	if panel.IntegerY {
		p.Y.Tick.Marker = integerTicks{}
	}
}

// addSeries adds s in its style and returns what its legend entry shows. A
// line is broken at each non-finite value; a stretch of one point alone is
// marked with a dot, since a line through one point draws nothing.
func addSeries(p *plot.Plot, s Series, clr color.Color) plot.Thumbnailer {
	style := draw.LineStyle{Color: clr, Width: vg.Points(lineWidth)}
	if s.Dashed {
		style.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	dot := draw.GlyphStyle{Color: clr, Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
	points := byTime(s.Points, func(pt Point) time.Time { return pt.At })
	if s.Style == Dots {
		var xys plotter.XYs
		for _, pt := range points {
			if finite(pt.Value) {
				xys = append(xys, plotter.XY{X: unixSeconds(pt.At), Y: pt.Value})
			}
		}
		scatter := &plotter.Scatter{XYs: xys, GlyphStyle: dot}
		p.Add(scatter)
		return scatter
	}
	line := &plotter.Line{LineStyle: style}
	if s.Style == Steps {
		line.StepStyle = plotter.PostStep
	}
	for _, run := range finiteRuns(points) {
		if len(run) == 1 {
			p.Add(&plotter.Scatter{XYs: run, GlyphStyle: dot})
			continue
		}
		p.Add(&plotter.Line{XYs: run, LineStyle: style, StepStyle: line.StepStyle})
	}
	return line
}

// finiteRuns splits points at non-finite values into runs to draw as lines.
func finiteRuns(points []Point) []plotter.XYs {
	var runs []plotter.XYs
	var run plotter.XYs
	for _, pt := range points {
		if !finite(pt.Value) {
			if len(run) > 0 {
				runs = append(runs, run)
			}
			run = nil
			continue
		}
		run = append(run, plotter.XY{X: unixSeconds(pt.At), Y: pt.Value})
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	return runs
}

// stack divides the area among the panels by weight, top to bottom.
func stack(area draw.Canvas, panels []Panel) []draw.Canvas {
	total := 0.0
	for _, p := range panels {
		total += weight(p)
	}
	gaps := vg.Length(panelGap * (len(panels) - 1))
	height := area.Max.Y - area.Min.Y - gaps
	out := make([]draw.Canvas, len(panels))
	top := area.Max.Y
	for i, p := range panels {
		h := height * vg.Length(weight(p)/total)
		out[i] = draw.Canvas{Canvas: area.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: area.Min.X, Y: top - h},
			Max: vg.Point{X: area.Max.X, Y: top},
		}}
		top -= h + panelGap
	}
	return out
}

func weight(p Panel) float64 {
	if p.Weight == 0 {
		return 1
	}
	return p.Weight
}

// alignDataAreas narrows each panel's area so every data area starts and
// ends at the same x: the widest value labels set the left edge for all.
func alignDataAreas(plots []*plot.Plot, areas []draw.Canvas) {
	var left, right vg.Length
	for i, p := range plots {
		data := p.DataCanvas(areas[i])
		left = max(left, data.Min.X-areas[i].Min.X)
		right = max(right, areas[i].Max.X-data.Max.X)
	}
	for i, p := range plots {
		data := p.DataCanvas(areas[i])
		areas[i] = draw.Crop(areas[i], left-(data.Min.X-areas[i].Min.X), -(right - (areas[i].Max.X - data.Max.X)), 0, 0)
	}
}

// legendExtent is how wide the legend's longest entry is.
func legendExtent(l plot.Legend) vg.Length {
	// Legend.Rectangle measures every entry; its width does not depend on
	// the canvas it is given.
	r := l.Rectangle(draw.Canvas{})
	return r.Max.X - r.Min.X
}

// windowColors gives each window label a pale color, in order of first use.
func windowColors(windows []Window) map[string]color.Color {
	colors := map[string]color.Color{}
	for _, w := range windows {
		if _, ok := colors[w.Label]; !ok {
			colors[w.Label] = windowPalette[len(colors)%len(windowPalette)]
		}
	}
	return colors
}

func colorOr(c, fallback color.Color) color.Color {
	if c != nil {
		return c
	}
	return fallback
}

func translucent(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: alpha}
}

func textStyle(size vg.Length, x draw.XAlignment, y draw.YAlignment) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		XAlign:  x,
		YAlign:  y,
		Handler: plot.DefaultTextHandler,
	}
}
