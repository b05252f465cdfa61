// Package scalereport turns the ticks a forecast-and-scale loop recorded
// (ForecastScale results) into a table and a chart: demand, the forecast with
// its prediction interval, and the replicas over time. Reading the ticks from
// Temporal is the caller's part; this package only shapes what it is given.
package scalereport

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/infraflow/infraflow/internal/chart"
	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/workflows"
)

// Tick is one ForecastScale run's record.
type Tick struct {
	WorkflowID string
	RunID      string
	Record     workflows.ScaleTick
	// Running marks a record read from a run still going on (its record
	// query): it has decided, or is about to, but has no outcome yet.
	Running bool
}

// OutcomeRunning stands in the outcome column for a tick still going on.
const OutcomeRunning = "running"

// Row is one tick as the report shows it. Values a tick did not have are NaN:
// demand when the metrics could not be read, the forecast and its interval
// when there was none (reactive mode, too little data, a failed fit).
type Row struct {
	WorkflowID string
	At         time.Time
	Target     string
	Demand     float64
	DemandAt   time.Time
	// Forecast is the forecast for the last step the decision looked at (the
	// startup lead ahead of the latest sample), at ForecastAt; Lower and Upper
	// are its prediction interval there.
	Forecast     float64
	Lower, Upper float64
	ForecastAt   time.Time
	Model        string
	Mode         scaling.Mode
	Observed     int
	Decided      int
	Outcome      string
	Replicas     int
	Reason       string
}

// RowOf reads one tick.
func RowOf(t Tick) Row {
	r := t.Record
	row := Row{
		WorkflowID: t.WorkflowID, At: r.At, Target: r.Target,
		Demand: math.NaN(), Forecast: math.NaN(), Lower: math.NaN(), Upper: math.NaN(),
		Model: r.Model, Mode: r.Decision.Mode, Observed: r.Observed, Decided: r.Decision.Replicas,
		Outcome: r.Outcome, Replicas: r.Replicas, Reason: r.Reason,
	}
	if t.Running {
		row.Outcome = OutcomeRunning
	}
	if r.Demand != nil {
		row.Demand, row.DemandAt = *r.Demand, r.DemandAt
		if row.DemandAt.IsZero() {
			row.DemandAt = r.At
		}
	}
	if f := r.Forecast; f != nil && len(f.Point) > 0 && len(f.At) == len(f.Point) {
		last := len(f.Point) - 1
		row.Forecast, row.ForecastAt = f.Point[last], f.At[last]
		if len(f.Lower) == len(f.Point) && len(f.Upper) == len(f.Point) {
			row.Lower, row.Upper = f.Lower[last], f.Upper[last]
		}
	}
	return row
}

// Rows reads the ticks, oldest first.
func Rows(ticks []Tick) []Row {
	rows := make([]Row, 0, len(ticks))
	for _, t := range ticks {
		rows = append(rows, RowOf(t))
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return a.At.Compare(b.At) })
	return rows
}

// WriteTable writes one line per row under a header, columns aligned.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tDEMAND\tFORECAST\tINTERVAL\tMODEL\tDECISION\tOUTCOME\tREPLICAS\tREASON")
	for _, r := range rows {
		forecast, interval := "-", "-"
		if !math.IsNaN(r.Forecast) {
			forecast = number(r.Forecast)
			// How far past the latest sample it looked: the startup lead in steps.
			from := r.DemandAt
			if from.IsZero() {
				from = r.At
			}
			if ahead := r.ForecastAt.Sub(from); ahead > 0 {
				forecast += " (+" + ahead.Round(time.Millisecond).String() + ")"
			}
		}
		if !math.IsNaN(r.Lower) && !math.IsNaN(r.Upper) {
			interval = number(r.Lower) + "–" + number(r.Upper)
		}
		decision := fmt.Sprintf("%s %d→%d", r.Mode, r.Observed, r.Decided)
		if r.Mode == "" {
			decision = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.At.UTC().Format(time.DateTime), number(r.Demand), forecast, interval,
			orDash(r.Model), decision, orDash(r.Outcome), r.Replicas, oneLine(r.Reason))
	}
	return tw.Flush()
}

// Colors of the report's series: demand and replicas in the same dark blue
// on both panels read as "what was", the forecast and its band in orange as
// "what was expected".
var (
	actualColor   = color.RGBA{R: 0x1f, G: 0x4e, B: 0x9a, A: 0xff}
	forecastColor = color.RGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0xff}
	bandColor     = color.NRGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0x50}
	decidedColor  = color.RGBA{R: 0x8e, G: 0x3b, B: 0xa8, A: 0xff}
	heldColor     = color.RGBA{R: 0xf8, G: 0xd7, B: 0xda, A: 0xff}
)

// Names of the report's series and windows, as the legends show them.
const (
	DemandSeries   = "demand (actual)"
	ForecastSeries = "forecast (startup lead ahead)"
	IntervalBand   = "prediction interval"
	ReplicasSeries = "replicas after the tick"
	DecidedSeries  = "decided"
	HeldWindow     = "held (bad or missing data)"
)

// Chart draws the rows: demand, forecast and interval above, where each
// forecast is drawn at the time it forecast (so it sits beside the demand
// that came); replicas and decisions below; runs of held ticks shaded.
func Chart(title string, rows []Row) chart.Chart {
	demand := chart.Series{Name: DemandSeries, Color: actualColor}
	forecast := chart.Series{Name: ForecastSeries, Color: forecastColor, Dashed: true}
	band := chart.Band{Name: IntervalBand, Color: bandColor}
	replicas := chart.Series{Name: ReplicasSeries, Color: actualColor, Style: chart.Steps}
	decided := chart.Series{Name: DecidedSeries, Color: decidedColor, Style: chart.Dots}
	// How far ahead the last forecast looked: a tick without a forecast
	// breaks the forecast line where its forecast would have been drawn.
	var ahead time.Duration
	for _, r := range rows {
		at := r.DemandAt
		if at.IsZero() {
			at = r.At
		}
		// A tick without demand is a gap in the line, not a fall to zero.
		demand.Points = append(demand.Points, chart.Point{At: at, Value: r.Demand})
		forecastAt := r.ForecastAt
		if forecastAt.IsZero() {
			forecastAt = r.At.Add(ahead)
		} else {
			ahead = r.ForecastAt.Sub(r.At)
		}
		forecast.Points = append(forecast.Points, chart.Point{At: forecastAt, Value: r.Forecast})
		band.Points = append(band.Points, chart.BandPoint{At: forecastAt, Lower: r.Lower, Upper: r.Upper})
		if r.Outcome != OutcomeRunning {
			replicas.Points = append(replicas.Points, chart.Point{At: r.At, Value: float64(r.Replicas)})
		}
		if r.Mode != "" {
			decided.Points = append(decided.Points, chart.Point{At: r.At, Value: float64(r.Decided)})
		}
	}
	return chart.Chart{
		Title: title,
		Panels: []chart.Panel{
			{Title: "demand and forecast", YLabel: "demand", Series: []chart.Series{demand, forecast}, Bands: []chart.Band{band}, Weight: 2, ZeroBased: true},
			{Title: "replicas", YLabel: "replicas", Series: []chart.Series{replicas, decided}, ZeroBased: true, IntegerY: true},
		},
		Windows: HeldWindows(rows),
	}
}

// HeldWindows are the spans of consecutive held ticks: from the first held
// tick to the next tick that was not held (the count was held until then), or
// to the last held tick when the report ends held.
func HeldWindows(rows []Row) []chart.Window {
	var windows []chart.Window
	for i := 0; i < len(rows); i++ {
		if rows[i].Outcome != workflows.ScaleHeld {
			continue
		}
		j := i
		for j+1 < len(rows) && rows[j+1].Outcome == workflows.ScaleHeld {
			j++
		}
		end := rows[j].At
		if j+1 < len(rows) {
			end = rows[j+1].At
		}
		windows = append(windows, chart.Window{Label: HeldWindow, From: rows[i].At, To: end, Color: heldColor})
		i = j
	}
	return windows
}

// number shows a value with the precision a reader of demand needs: whole
// above 100, three significant digits below; "-" when there is none.
func number(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a reason on its row: a line break would split the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
