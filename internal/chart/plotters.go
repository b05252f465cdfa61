package chart

import (
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// windowShade fills a span of time from the bottom of the data area to its
// top, with its label in the top left corner.
type windowShade struct {
	from, to float64
	color    color.Color
	label    string
}

// An instant (or a window too short to see at this scale) is still drawn,
// this wide.
const minWindowWidth = 2

func (w *windowShade) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	x0, x1 := trX(w.from), trX(w.to)
	if x1-x0 < minWindowWidth {
		mid := (x0 + x1) / 2
		x0, x1 = mid-minWindowWidth/2, mid+minWindowWidth/2
	}
	x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
	if x1 <= x0 {
		return
	}
	c.FillPolygon(w.color, corners(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}))
	if w.label != "" {
		c.FillText(textStyle(windowTextSize, draw.XLeft, draw.YTop), vg.Point{X: x0 + 3, Y: c.Max.Y - 3}, w.label)
	}
}

func (w *windowShade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(w.color, corners(c.Rectangle))
}

// bandShade fills between the lower and upper bounds over time, broken where
// a bound is missing; one point alone is a short bar.
type bandShade struct {
	runs  [][]bandXY
	color color.Color
}

type bandXY struct{ x, lo, hi float64 }

// barWidth is how wide a band of one point is drawn.
const barWidth = 6

func newBandShade(b Band, clr color.Color) *bandShade {
	shade := &bandShade{color: clr}
	var run []bandXY
	for _, pt := range byTime(b.Points, func(p BandPoint) time.Time { return p.At }) {
		if !finite(pt.Lower) || !finite(pt.Upper) {
			if len(run) > 0 {
				shade.runs = append(shade.runs, run)
			}
			run = nil
			continue
		}
		run = append(run, bandXY{x: unixSeconds(pt.At), lo: math.Min(pt.Lower, pt.Upper), hi: math.Max(pt.Lower, pt.Upper)})
	}
	if len(run) > 0 {
		shade.runs = append(shade.runs, run)
	}
	return shade
}

func (b *bandShade) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for _, run := range b.runs {
		var outline []vg.Point
		if len(run) == 1 {
			x, lo, hi := trX(run[0].x), trY(run[0].lo), trY(run[0].hi)
			outline = corners(vg.Rectangle{Min: vg.Point{X: x - barWidth/2, Y: lo}, Max: vg.Point{X: x + barWidth/2, Y: hi}})
		} else {
			for _, p := range run {
				outline = append(outline, vg.Point{X: trX(p.x), Y: trY(p.hi)})
			}
			for i := len(run) - 1; i >= 0; i-- {
				outline = append(outline, vg.Point{X: trX(run[i].x), Y: trY(run[i].lo)})
			}
		}
		c.FillPolygon(b.color, c.ClipPolygonXY(outline))
	}
}

// DataRange makes the value axis cover the band.
func (b *bandShade) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, run := range b.runs {
		for _, p := range run {
			xmin, xmax = math.Min(xmin, p.x), math.Max(xmax, p.x)
			ymin, ymax = math.Min(ymin, p.lo), math.Max(ymax, p.hi)
		}
	}
	return xmin, xmax, ymin, ymax
}

func (b *bandShade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, corners(c.Rectangle))
}

func corners(r vg.Rectangle) []vg.Point {
	return []vg.Point{r.Min, {X: r.Min.X, Y: r.Max.Y}, r.Max, {X: r.Max.X, Y: r.Min.Y}}
}

// timeTicks puts ticks on round times (every 5 s, 1 min, 1 h, 1 day, ...)
// in the chart's time zone, about eight across the axis, labelled only on the
// bottom panel (the others keep the tick marks and grid lines).
type timeTicks struct {
	loc      *time.Location
	labelled bool
}

var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

const maxTimeTicks = 8

func (t timeTicks) Ticks(lo, hi float64) []plot.Tick {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if (hi-lo)/s.Seconds() <= maxTimeTicks {
			step = s
			break
		}
	}
	// Round times in the chart's zone: an hour tick at 14:00 local, not at
	// whatever the zone's offset makes of a round UTC second count.
	_, offset := time.Unix(int64(lo), 0).In(t.loc).Zone()
	s, off := step.Seconds(), float64(offset)
	var ticks []plot.Tick
	for v := math.Ceil((lo+off)/s)*s - off; v <= hi; v += s {
		tick := plot.Tick{Value: v}
		if t.labelled {
			tick.Label = t.label(v, step, hi-lo)
		}
		ticks = append(ticks, tick)
	}
	return ticks
}

func (t timeTicks) label(v float64, step time.Duration, span float64) string {
	at := time.Unix(0, int64(v*1e9)).In(t.loc)
	switch {
	case step >= 24*time.Hour:
		return at.Format("Jan 2")
	case span > (24 * time.Hour).Seconds():
		return at.Format("Jan 2 15:04")
	case step >= time.Minute:
		return at.Format("15:04")
	default:
		return at.Format("15:04:05")
	}
}

// integerTicks puts ticks on whole numbers only, a step of 1, 2 or 5 times a
// power of ten, so a count never shows 2.5.
type integerTicks struct{}

const maxValueTicks = 6

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for (hi-lo)/step > maxValueTicks {
		switch m := step / math.Pow(10, math.Floor(math.Log10(step))); {
		case m < 2:
			step *= 2
		case m < 5:
			step = step / 2 * 5
		default:
			step *= 2
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}
