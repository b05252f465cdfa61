// Package chart draws time-series reports with gonum/plot: panels stacked on
// one shared time axis, each with lines, step lines or dots, shaded intervals
// (bands), and shaded time windows with labels drawn across every panel. It
// is pure: it draws what it is given and writes PNG and SVG, nothing else.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Pixel sizes of a Chart that does not say.
const (
	DefaultWidth  = 1200
	DefaultHeight = 720
)

// pixelsPerInch is the PNG's resolution; the SVG has the same physical size.
const pixelsPerInch = 96

// Point is one value at one time. A NaN or infinite Value is a gap: lines and
// bands break there rather than joining across missing data.
type Point struct {
	At    time.Time
	Value float64
}

// Style is how a series is drawn.
type Style int

const (
	// Line joins the points with straight segments.
	Line Style = iota
	// Steps holds each value until the next point, as a count that changed at
	// discrete moments does.
	Steps
	// Dots marks each point alone.
	Dots
)

// Series is a named sequence of values over time.
type Series struct {
	Name   string
	Points []Point
	Style  Style
	Dashed bool
	// Color is chosen from the palette by position when nil.
	Color color.Color
}

// BandPoint is an interval at one time; a non-finite bound is a gap.
type BandPoint struct {
	At           time.Time
	Lower, Upper float64
}

// Band is a shaded interval over time, such as a forecast's prediction
// interval. A band of one point is drawn as a short bar.
type Band struct {
	Name   string
	Points []BandPoint
	// Color is the fill; a translucent default when nil.
	Color color.Color
}

// Window is a span of time shaded across every panel and labelled at its top
// in the first panel and in its legend: a fault injected, a period of held
// decisions, a wait for approval. From == To marks an instant.
type Window struct {
	Label    string
	From, To time.Time
	// Color is chosen from a pale palette by label when nil, so windows of
	// the same label share a color.
	Color color.Color
}

// Panel is one plot; panels share the time axis and stack top to bottom.
type Panel struct {
	Title  string
	YLabel string
	Series []Series
	Bands  []Band
	// Weight is the panel's share of the height relative to the others (0 is 1).
	Weight float64
	// ZeroBased starts the value axis at 0 (or below, for negative values).
	ZeroBased bool
	// IntegerY puts ticks on whole numbers only, for counts.
	IntegerY bool
}

// Chart is a whole figure.
type Chart struct {
	Title   string
	Panels  []Panel
	Windows []Window
	// Width and Height in pixels of the PNG (the SVG has the same size at
	// 96 pixels per inch); 0 takes DefaultWidth and DefaultHeight.
	Width, Height int
	// Location is the time zone of the time axis; nil is UTC.
	Location *time.Location
}

// Files are the paths Write wrote.
type Files struct {
	PNG, SVG string
}

// Write draws the chart into base+".png" and base+".svg". Each file is
// written beside its final name and renamed into place, so a failed write
// leaves no half-written image behind.
func (c Chart) Write(base string) (Files, error) {
	if base == "" {
		return Files{}, errors.New("chart: empty output path: name a file without extension, e.g. report/scaling")
	}
	files := Files{PNG: base + ".png", SVG: base + ".svg"}
	if err := writeFile(files.PNG, c.WritePNG); err != nil {
		return Files{}, err
	}
	if err := writeFile(files.SVG, c.WriteSVG); err != nil {
		return Files{}, err
	}
	return files, nil
}

// WritePNG draws the chart as a PNG image.
func (c Chart) WritePNG(w io.Writer) error {
	width, height, err := c.size()
	if err != nil {
		return err
	}
	canvas := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(pixelsPerInch), vgimg.UseBackgroundColor(color.White))
	c.draw(canvas)
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(w); err != nil {
		return fmt.Errorf("chart: writing PNG: %w", err)
	}
	return nil
}

// WriteSVG draws the chart as an SVG document; text stays text, so the
// labels can be searched and read by tools.
func (c Chart) WriteSVG(w io.Writer) error {
	width, height, err := c.size()
	if err != nil {
		return err
	}
	canvas := vgsvg.New(width, height)
	c.draw(canvas)
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("chart: writing SVG: %w", err)
	}
	return nil
}

// size is the chart's size in the vg lengths both canvases take.
func (c Chart) size() (vg.Length, vg.Length, error) {
	if err := c.validate(); err != nil {
		return 0, 0, err
	}
	w, h := c.Width, c.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	toLength := func(px int) vg.Length { return vg.Length(px) * vg.Inch / pixelsPerInch }
	return toLength(w), toLength(h), nil
}

// Below these sizes the axes, titles and legends no longer fit.
const (
	minWidth          = 320
	minHeightPerPanel = 120
)

func (c Chart) validate() error {
	if len(c.Panels) == 0 {
		return errors.New("chart: no panels: give the chart at least one Panel to draw")
	}
	if c.Width < 0 || c.Height < 0 || (c.Width > 0 && c.Width < minWidth) {
		return fmt.Errorf("chart: size %dx%d pixels: use a width of at least %d (0 takes %d)", c.Width, c.Height, minWidth, DefaultWidth)
	}
	if c.Height > 0 && c.Height < minHeightPerPanel*len(c.Panels) {
		return fmt.Errorf("chart: height %d pixels for %d panels: use at least %d (0 takes %d)", c.Height, len(c.Panels), minHeightPerPanel*len(c.Panels), DefaultHeight)
	}
	for i, w := range c.Windows {
		if w.To.Before(w.From) {
			return fmt.Errorf("chart: Windows[%d] %q ends (%s) before it starts (%s): swap From and To", i, w.Label, w.To.Format(time.RFC3339), w.From.Format(time.RFC3339))
		}
		if w.From.IsZero() {
			return fmt.Errorf("chart: Windows[%d] %q has no From time: set when the window starts", i, w.Label)
		}
	}
	for i, p := range c.Panels {
		if p.Weight < 0 || math.IsNaN(p.Weight) || math.IsInf(p.Weight, 0) {
			return fmt.Errorf("chart: Panels[%d] %q weight %v: use a positive share of the height (0 is 1)", i, p.Title, p.Weight)
		}
		for j, s := range p.Series {
			if s.Style < Line || s.Style > Dots {
				return fmt.Errorf("chart: Panels[%d].Series[%d] %q style %d: use Line, Steps or Dots", i, j, s.Name, s.Style)
			}
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("chart: creating the directory of %s: %w", path, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("chart: drawing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	// CreateTemp makes the file private; an image is for sharing.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	return nil
}

// timeRange is the span every panel's time axis shows: all points, bands and
// windows. ok is false when there is nothing with a time at all.
func (c Chart) timeRange() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	see := func(t time.Time) {
		x := unixSeconds(t)
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	for _, p := range c.Panels {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				see(pt.At)
			}
		}
		for _, b := range p.Bands {
			for _, pt := range b.Points {
				see(pt.At)
			}
		}
	}
	for _, w := range c.Windows {
		see(w.From)
		see(w.To)
	}
	return lo, hi, lo <= hi
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// byTime returns the points sorted by time, leaving the caller's slice alone.
func byTime[T any](points []T, at func(T) time.Time) []T {
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b T) int { return at(a).Compare(at(b)) })
	return out
}

func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}
