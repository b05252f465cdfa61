package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

var t0 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

func at(seconds float64) time.Time {
	return t0.Add(time.Duration(seconds * float64(time.Second)))
}

// ramp is a series over 0..100 s, one point a second.
func ramp(name string, f func(s float64) float64) Series {
	s := Series{Name: name}
	for i := 0; i <= 100; i++ {
		s.Points = append(s.Points, Point{At: at(float64(i)), Value: f(float64(i))})
	}
	return s
}

// twoPanels is a report of the shape the scaling report draws: values with an
// interval above, a step line of counts below.
func twoPanels() Chart {
	demand := ramp("demand (actual)", func(s float64) float64 { return 1000 + 500*math.Sin(s/15) })
	forecast := ramp("forecast", func(s float64) float64 { return 1000 + 500*math.Sin((s-2)/15) })
	forecast.Dashed = true
	band := Band{Name: "prediction interval"}
	for _, p := range forecast.Points {
		band.Points = append(band.Points, BandPoint{At: p.At, Lower: p.Value - 150, Upper: p.Value + 150})
	}
	replicas := ramp("replicas", func(s float64) float64 { return math.Ceil((1000 + 500*math.Sin(s/15)) / 300) })
	replicas.Style = Steps
	return Chart{
		Title: "scaling report e2e-web",
		Panels: []Panel{
			{Title: "demand and forecast", YLabel: "requests", Series: []Series{demand, forecast}, Bands: []Band{band}, Weight: 2},
			{Title: "replicas", YLabel: "replicas", Series: []Series{replicas}, ZeroBased: true, IntegerY: true},
		},
		Width: 900, Height: 600,
	}
}

func TestWriteMakesAPNGOfTheRequestedSizeAndAnSVGWithTheLabels(t *testing.T) {
	c := twoPanels()
	c.Windows = []Window{{Label: "latency fault", From: at(20), To: at(30)}}
	base := filepath.Join(t.TempDir(), "out", "report")
	files, err := c.Write(base)
	if err != nil {
		t.Fatal(err)
	}
	if files.PNG != base+".png" || files.SVG != base+".svg" {
		t.Errorf("wrote %+v, want %s.png and %s.svg", files, base, base)
	}
	img := decodePNG(t, files.PNG)
	if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 600 {
		t.Errorf("PNG is %dx%d, want 900x600", b.Dx(), b.Dy())
	}
	if colors := distinctColors(img); colors < 50 {
		t.Errorf("PNG has %d distinct colors: want a drawn chart (lines, fills, antialiased text), not a blank image", colors)
	}

	doc := parseSVG(t, files.SVG)
	// 900x600 pixels at 96 per inch is 675x450 points.
	if doc.width != "675pt" || doc.height != "450pt" {
		t.Errorf("SVG is %s x %s, want 675pt x 450pt", doc.width, doc.height)
	}
	for _, label := range []string{"scaling report e2e-web", "demand and forecast", "replicas", "demand (actual)", "forecast",
		"prediction interval", "latency fault", "requests", "time (UTC)"} {
		if !doc.hasText(label) {
			t.Errorf("SVG has no text %q; texts: %q", label, doc.texts)
		}
	}
	// Round times on the axis, in the chart's zone: 14:00:00 is the start.
	if !doc.hasText("14:00:00") {
		t.Errorf("SVG has no time tick 14:00:00; texts: %q", doc.texts)
	}
	// Counts are labelled with whole numbers only.
	for _, text := range doc.texts {
		if strings.HasSuffix(text, ".5") {
			t.Errorf("a tick reads %q: counts must be whole", text)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(base), ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left beside the output: %v", leftovers)
	}
}

func TestWindowsAreShadedOverTheirSpanOnEveryPanelAndLabelled(t *testing.T) {
	shade := color.RGBA{R: 0xff, G: 0xd0, B: 0x90, A: 0xff}
	c := twoPanels()
	c.Windows = []Window{
		{Label: "pod-kill", From: at(20), To: at(30), Color: shade},
		{Label: "pod-kill", From: at(60), To: at(80), Color: shade},
	}
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	columns := shadedColumns(img, shade)
	spans := runsOf(columns)
	if len(spans) != 2 {
		t.Fatalf("shaded column spans %v: want 2, one per window", spans)
	}
	// Windows sit where their times are: the second is twice as wide as the
	// first and starts 4 of the first's widths after it ((60-20)/10).
	w1, w2 := float64(spans[0][1]-spans[0][0]), float64(spans[1][1]-spans[1][0])
	if math.Abs(w2/w1-2) > 0.1 {
		t.Errorf("window widths %v and %v pixels: want the second twice the first", w1, w2)
	}
	if gap := float64(spans[1][0]-spans[0][0]) / w1; math.Abs(gap-4) > 0.2 {
		t.Errorf("the second window starts %.2f widths of the first after it, want 4", gap)
	}
	// Both panels are shaded: the window crosses the top half and the bottom half.
	top, bottom := shadedRows(img, shade, spans[1])
	if top == 0 || bottom == 0 {
		t.Errorf("shaded pixels in the second window's columns: %d in the top half, %d in the bottom: want both panels shaded", top, bottom)
	}

	// Without windows, nothing has the window's color.
	plain := twoPanels()
	buf.Reset()
	if err := plain.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	plainImg, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(runsOf(shadedColumns(plainImg, shade))); n != 0 {
		t.Errorf("a chart without windows has %d shaded spans", n)
	}

	// The SVG fills each window once per panel and once in the legend, and
	// labels each in the top panel (the legend names the label once more).
	buf.Reset()
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	doc := parseSVGBytes(t, buf.Bytes())
	if got := doc.fills["#FFD090"]; got != 2*len(c.Panels)+1 {
		t.Errorf("%d paths filled with the window color, want %d (2 windows x %d panels + 1 legend entry)", got, 2*len(c.Panels)+1, len(c.Panels))
	}
	if got := doc.count("pod-kill"); got != 3 {
		t.Errorf("%d texts read pod-kill, want 3 (each window's label and the legend's)", got)
	}
}

func TestAnInstantWindowIsStillDrawn(t *testing.T) {
	c := twoPanels()
	c.Windows = []Window{{Label: "rollback", From: at(50), To: at(50), Color: color.RGBA{R: 0xc0, A: 0xff}}}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	if got := parseSVGBytes(t, buf.Bytes()).fills["#C00000"]; got != len(c.Panels)+1 {
		t.Errorf("an instant window filled %d times, want %d (each panel and the legend)", got, len(c.Panels)+1)
	}
}

func TestMissingValuesBreakLinesAndBandsAndALonePointIsADot(t *testing.T) {
	red := color.RGBA{R: 0xd0, G: 0x10, B: 0x10, A: 0xff}
	green := color.RGBA{G: 0xa0, A: 0xff}
	band := color.NRGBA{B: 0xc0, A: 0x60}
	gappy := ramp("gappy", func(s float64) float64 { return s })
	gappy.Color = red
	for _, i := range []int{40, 41, 70} { // two gaps: three runs of line
		gappy.Points[i].Value = math.NaN()
	}
	gappy.Points[90].Value = math.Inf(1) // a fourth run, 71..89, and a fifth, 91..100
	alone := Series{Name: "alone", Color: green, Points: []Point{{At: at(10), Value: math.NaN()}, {At: at(50), Value: 42}}}
	interval := Band{Name: "interval", Color: band}
	for i := 0; i <= 100; i++ {
		lo := float64(i) - 5
		if i == 50 {
			lo = math.NaN()
		}
		interval.Points = append(interval.Points, BandPoint{At: at(float64(i)), Lower: lo, Upper: float64(i) + 5})
	}
	c := Chart{Panels: []Panel{{Series: []Series{gappy, alone}, Bands: []Band{interval}}}}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	doc := parseSVGBytes(t, buf.Bytes())
	// Line runs 0..39, 42..69, 71..89, 91..100, plus the legend's sample line.
	if got := doc.strokes["#D01010"]; got != 5 {
		t.Errorf("the gappy series is %d stroked paths, want 5 (4 runs between its gaps + the legend's)", got)
	}
	// The lone finite point is a filled dot, and so is its legend sample.
	if got := doc.fills["#00A000"]; got != 1 {
		t.Errorf("the lone point is drawn %d times as a dot, want 1", got)
	}
	// The band breaks at its missing bound: two filled areas and the legend's.
	if got := doc.fillsNear(band); got != 3 {
		t.Errorf("the band is %d filled paths, want 3 (two runs + the legend's)", got)
	}
}

func TestOneMomentChartsDrawTheirPointsAndInterval(t *testing.T) {
	c := Chart{Panels: []Panel{{
		Series: []Series{{Name: "demand", Points: []Point{{At: t0, Value: 1200}}, Color: color.RGBA{B: 0xff, A: 0xff}}},
		Bands:  []Band{{Name: "interval", Points: []BandPoint{{At: t0, Lower: 900, Upper: 1500}}, Color: color.NRGBA{G: 0xff, A: 0x60}}},
	}}}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	doc := parseSVGBytes(t, buf.Bytes())
	if doc.fills["#0000FF"] != 1 || doc.fillsNear(color.NRGBA{G: 0xff, A: 0x60}) != 2 {
		t.Errorf("a one-point chart filled the point %d times and the interval %d (want 1 dot, and a bar + the legend's)", doc.fills["#0000FF"], doc.fillsNear(color.NRGBA{G: 0xff, A: 0x60}))
	}
	if !doc.hasText("14:00:00") {
		t.Errorf("the time axis around one moment does not show it; texts %q", doc.texts)
	}
}

func TestBadChartsAreRefusedNamingTheField(t *testing.T) {
	for name, tc := range map[string]struct {
		chart Chart
		want  string
	}{
		"no panels":        {Chart{}, "no panels"},
		"window backwards": {Chart{Panels: []Panel{{}}, Windows: []Window{{Label: "fault", From: at(10), To: at(5)}}}, `Windows[0] "fault" ends`},
		"window unstarted": {Chart{Panels: []Panel{{}}, Windows: []Window{{Label: "fault", To: at(5)}}}, `Windows[0] "fault" has no From`},
		"too narrow":       {Chart{Panels: []Panel{{}}, Width: 100}, "width of at least"},
		"too short":        {Chart{Panels: []Panel{{}, {}}, Height: 150}, "height 150 pixels for 2 panels"},
		"bad weight":       {Chart{Panels: []Panel{{Title: "p", Weight: -1}}}, `Panels[0] "p" weight -1`},
		"bad style":        {Chart{Panels: []Panel{{Series: []Series{{Name: "s", Style: 7}}}}}, `Panels[0].Series[0] "s" style 7`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := tc.chart.Write(filepath.Join(dir, "x"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused chart left files: %v", entries)
			}
		})
	}
}

func TestAFailedWriteLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.png")
	failing := errors.New("disk full")
	err := writeFile(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("half a PNG"))
		return failing
	})
	if !errors.Is(err, failing) {
		t.Fatalf("error %v, want it to wrap the writer's", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed write left %v", entries)
	}
}

func TestIntegerTicksAreWholeAndFew(t *testing.T) {
	for _, r := range [][2]float64{{0, 3}, {0, 7.4}, {0, 41}, {3, 260}, {0, 12000}} {
		ticks := integerTicks{}.Ticks(r[0], r[1])
		if len(ticks) < 2 || len(ticks) > maxValueTicks+1 {
			t.Errorf("range %v: %d ticks, want 2..%d", r, len(ticks), maxValueTicks+1)
		}
		for _, tk := range ticks {
			if tk.Value != math.Trunc(tk.Value) || tk.Value < r[0] || tk.Value > r[1] {
				t.Errorf("range %v: tick %v is not a whole number within it", r, tk.Value)
			}
		}
	}
}

func TestTimeTicksAreRoundInTheChartsZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris") // time/tzdata is linked in: no system zoneinfo needed
	if err != nil {
		t.Fatal(err)
	}
	lo := unixSeconds(time.Date(2026, 11, 30, 13, 7, 0, 0, time.UTC))
	ticks := timeTicks{loc: paris, labelled: true}.Ticks(lo, lo+6*3600)
	if len(ticks) == 0 || len(ticks) > maxTimeTicks+1 {
		t.Fatalf("%d ticks over 6 hours", len(ticks))
	}
	for _, tk := range ticks {
		at := time.Unix(int64(tk.Value), 0).In(paris)
		if at.Minute() != 0 || at.Second() != 0 || tk.Label != at.Format("15:04") {
			t.Errorf("tick %s labelled %q: want a round Paris hour labelled by it", at, tk.Label)
		}
	}
	if unlabelled := (timeTicks{loc: paris}).Ticks(lo, lo+3600); unlabelled[0].Label != "" {
		t.Errorf("an upper panel's tick is labelled %q", unlabelled[0].Label)
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	return img
}

func distinctColors(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
		}
	}
	return len(seen)
}

// shadedColumns counts, per column, the pixels exactly of the shade (the
// inside of a window; its antialiased edges and what is drawn over it differ).
func shadedColumns(img image.Image, shade color.RGBA) []int {
	b := img.Bounds()
	counts := make([]int, b.Dx())
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == shade {
				counts[x-b.Min.X]++
			}
		}
	}
	return counts
}

// runsOf returns the [start, end) spans of columns with a fair number of
// shaded pixels (a legend sample is a few columns of a dozen pixels; a
// window is the height of the panels).
func runsOf(columns []int) [][2]int {
	const tall = 100
	var spans [][2]int
	start := -1
	for x, n := range append(columns, 0) {
		switch {
		case n >= tall && start < 0:
			start = x
		case n < tall && start >= 0:
			spans = append(spans, [2]int{start, x})
			start = -1
		}
	}
	return spans
}

func shadedRows(img image.Image, shade color.RGBA, span [2]int) (top, bottom int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := span[0]; x < span[1]; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) != shade {
				continue
			}
			if y < b.Dy()/2 {
				top++
			} else {
				bottom++
			}
		}
	}
	return top, bottom
}

// svgDoc is what the tests read back from an SVG: it must parse as XML, and
// its texts and the colors of its filled and stroked paths are counted.
type svgDoc struct {
	width, height string
	texts         []string
	fills         map[string]int
	strokes       map[string]int
}

func parseSVG(t *testing.T, path string) svgDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseSVGBytes(t, data)
}

func parseSVGBytes(t *testing.T, data []byte) svgDoc {
	t.Helper()
	doc := svgDoc{fills: map[string]int{}, strokes: map[string]int{}}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var inText bool
	root := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse as XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root {
				if el.Name.Local != "svg" {
					t.Fatalf("SVG root element is <%s>", el.Name.Local)
				}
				root = false
				for _, a := range el.Attr {
					switch a.Name.Local {
					case "width":
						doc.width = a.Value
					case "height":
						doc.height = a.Value
					}
				}
			}
			inText = el.Name.Local == "text"
			if el.Name.Local == "path" {
				for _, a := range el.Attr {
					if a.Name.Local == "style" {
						style := styleOf(a.Value)
						if f := style["fill"]; f != "" && f != "none" {
							doc.fills[f]++
						}
						if s := style["stroke"]; s != "" && s != "none" {
							doc.strokes[s]++
						}
					}
				}
			}
		case xml.CharData:
			if inText {
				doc.texts = append(doc.texts, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root {
		t.Fatal("SVG has no root element")
	}
	return doc
}

func styleOf(s string) map[string]string {
	out := map[string]string{}
	for _, decl := range strings.Split(s, ";") {
		if k, v, ok := strings.Cut(decl, ":"); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// fillsNear counts paths filled with c. A translucent color comes back from
// its premultiplied form a unit off in some channels.
func (d svgDoc) fillsNear(c color.Color) int {
	want := color.NRGBAModel.Convert(c).(color.NRGBA)
	n := 0
	for fill, count := range d.fills {
		var r, g, b int
		if _, err := fmt.Sscanf(fill, "#%02X%02X%02X", &r, &g, &b); err != nil {
			continue
		}
		if near(r, want.R) && near(g, want.G) && near(b, want.B) {
			n += count
		}
	}
	return n
}

func near(got int, want uint8) bool { return got >= int(want)-1 && got <= int(want)+1 }

func (d svgDoc) hasText(s string) bool { return d.count(s) > 0 }

func (d svgDoc) count(s string) int {
	n := 0
	for _, text := range d.texts {
		if text == s {
			n++
		}
	}
	return n
}
