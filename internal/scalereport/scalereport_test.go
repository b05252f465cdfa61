package scalereport

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/chart"
	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/workflows"
)

var t0 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

func ptr(v float64) *float64 { return &v }

// Four ticks of a loop 3 s apart, as ForecastScale records them: a
// predictive one that applied, one whose metrics could not be read (held, no
// demand, no forecast), a reactive one whose forecast failed, and a
// forecast whose interval is missing.
func fourTicks() []Tick {
	forecast := func(at time.Time, point, lower, upper float64) *workflows.ScaleForecast {
		return &workflows.ScaleForecast{Model: "holt-winters",
			At:    []time.Time{at.Add(time.Second), at.Add(2 * time.Second)},
			Point: []float64{point - 50, point}, Lower: []float64{lower - 50, lower}, Upper: []float64{upper - 50, upper}}
	}
	return []Tick{
		// Out of order on purpose: visibility lists newest first.
		{WorkflowID: "web-tick-3", Record: workflows.ScaleTick{At: t0.Add(6 * time.Second), Target: "kubernetes/default/deployment/web",
			Observed: 4, Demand: ptr(2450), DemandAt: t0.Add(5 * time.Second), ForecastProblem: "fewer than 30 samples",
			Model: "reactive", Decision: scaling.Decision{Mode: scaling.ModeReactive, Replicas: 5}, Outcome: workflows.ScaleApplied, Replicas: 5,
			Reason: "reactive: current demand 2450 needs 5;\nno forecast: fewer than 30 samples"}},
		{WorkflowID: "web-tick-1", Record: workflows.ScaleTick{At: t0, Target: "kubernetes/default/deployment/web",
			Observed: 1, Demand: ptr(1234.5), DemandAt: t0.Add(-time.Second), Forecast: forecast(t0.Add(-time.Second), 1400, 1100, 1700),
			Model: "holt-winters", Decision: scaling.Decision{Mode: scaling.ModePredictive, Replicas: 4}, Outcome: workflows.ScaleApplied, Replicas: 4,
			Reason: "predictive (holt-winters): forecast needs 4"}},
		{WorkflowID: "web-tick-2", Record: workflows.ScaleTick{At: t0.Add(3 * time.Second), Target: "kubernetes/default/deployment/web",
			Observed: 4, MetricsProblem: "Prometheus at 127.0.0.1:9095: connection refused",
			Model: "reactive", Decision: scaling.Decision{Mode: scaling.ModeHold, Replicas: 4}, Outcome: workflows.ScaleHeld, Replicas: 4,
			Reason: "holding 4 replicas: the metrics could not be read"}},
		{WorkflowID: "web-tick-4", Record: workflows.ScaleTick{At: t0.Add(9 * time.Second), Target: "kubernetes/default/deployment/web",
			Observed: 5, Demand: ptr(0.5), DemandAt: t0.Add(8 * time.Second),
			Forecast: &workflows.ScaleForecast{Model: "seasonal-naive", At: []time.Time{t0.Add(10 * time.Second)}, Point: []float64{2600}},
			Model:    "seasonal-naive", Decision: scaling.Decision{Mode: scaling.ModePredictive, Replicas: 6}, Outcome: workflows.ScaleForecastOnly, Replicas: 5,
			Reason: "predictive (seasonal-naive): forecast needs 6"}},
	}
}

func TestRowsAreInTimeOrderWithMissingValuesAsNaN(t *testing.T) {
	rows := Rows(fourTicks())
	if len(rows) != 4 {
		t.Fatalf("%d rows from 4 ticks", len(rows))
	}
	for i, id := range []string{"web-tick-1", "web-tick-2", "web-tick-3", "web-tick-4"} {
		if rows[i].WorkflowID != id {
			t.Errorf("row %d is %s, want %s (oldest first)", i, rows[i].WorkflowID, id)
		}
	}
	first := rows[0]
	// The forecast shown is the last step of the horizon, at its own time.
	if first.Demand != 1234.5 || !first.DemandAt.Equal(t0.Add(-time.Second)) || first.Forecast != 1400 || first.Lower != 1100 ||
		first.Upper != 1700 || !first.ForecastAt.Equal(t0.Add(time.Second)) || first.Model != "holt-winters" || first.Decided != 4 || first.Replicas != 4 {
		t.Errorf("first row %+v", first)
	}
	held := rows[1]
	if !math.IsNaN(held.Demand) || !held.DemandAt.IsZero() || !math.IsNaN(held.Forecast) || !math.IsNaN(held.Lower) || !math.IsNaN(held.Upper) || held.Outcome != workflows.ScaleHeld {
		t.Errorf("held row without metrics %+v: want NaN demand and forecast", held)
	}
	if reactive := rows[2]; reactive.Demand != 2450 || !math.IsNaN(reactive.Forecast) || reactive.Mode != scaling.ModeReactive {
		t.Errorf("reactive row %+v: demand 2450, no forecast", reactive)
	}
	if noInterval := rows[3]; noInterval.Forecast != 2600 || !math.IsNaN(noInterval.Lower) || !math.IsNaN(noInterval.Upper) || noInterval.Decided != 6 || noInterval.Replicas != 5 {
		t.Errorf("row with a forecast but no interval %+v", noInterval)
	}
}

func TestARunningTickHasNoOutcomeYet(t *testing.T) {
	row := RowOf(Tick{WorkflowID: "scale-once", Running: true, Record: workflows.ScaleTick{At: t0, Observed: 2, Replicas: 2}})
	if row.Outcome != OutcomeRunning {
		t.Errorf("outcome %q, want %q", row.Outcome, OutcomeRunning)
	}
	c := Chart("one", []Row{row})
	if got := c.Panels[1].Series[0].Points; len(got) != 0 {
		t.Errorf("a running tick is drawn as replicas after it: %+v", got)
	}
}

func TestTableHasOneLinePerTickWithDashesForMissingValues(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, Rows(fourTicks())); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want a header and 4 rows:\n%s", len(lines), buf.String())
	}
	for _, col := range []string{"TIME (UTC)", "DEMAND", "FORECAST", "INTERVAL", "MODEL", "DECISION", "OUTCOME", "REPLICAS", "REASON"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q has no %s column", lines[0], col)
		}
	}
	for i, want := range [][]string{
		{"2026-11-30 14:00:00", "1234", "1400 (+2s)", "1100–1700", "holt-winters", "predictive 1→4", "applied", "4", "forecast needs 4"},
		{"2026-11-30 14:00:03", "-", "-", "-", "reactive", "hold 4→4", "held", "4", "the metrics could not be read"},
		// The reason's line break is folded: a row stays one line.
		{"2026-11-30 14:00:06", "2450", "-", "-", "reactive 4→5", "applied", "5", "needs 5; no forecast: fewer than 30 samples"},
		{"2026-11-30 14:00:09", "0.5", "2600 (+2s)", "-", "seasonal-naive", "predictive 5→6", "forecast-only", "5"},
	} {
		fields := lines[i+1]
		for _, w := range want {
			if !strings.Contains(fields, w) {
				t.Errorf("row %d %q has no %q", i, fields, w)
			}
		}
	}
	// Columns line up: every row's DEMAND starts where the header's does.
	col := strings.Index(lines[0], "DEMAND")
	for _, l := range lines[1:] {
		if []rune(l)[col-1] != ' ' || []rune(l)[col] == ' ' {
			t.Errorf("row %q: the DEMAND column does not start at %d", l, col)
		}
	}
}

func TestChartDrawsGapsWhereTicksHadNoDemandOrForecastAndShadesHeldTicks(t *testing.T) {
	rows := Rows(fourTicks())
	c := Chart("ForecastScale e2e-web", rows)
	if len(c.Panels) != 2 {
		t.Fatalf("%d panels, want demand/forecast and replicas", len(c.Panels))
	}
	demand, forecast, band := c.Panels[0].Series[0], c.Panels[0].Series[1], c.Panels[0].Bands[0]
	if demand.Name != DemandSeries || forecast.Name != ForecastSeries || band.Name != IntervalBand {
		t.Errorf("series %q %q %q", demand.Name, forecast.Name, band.Name)
	}
	values := func(points []chart.Point) []float64 {
		var out []float64
		for _, p := range points {
			out = append(out, p.Value)
		}
		return out
	}
	if got := values(demand.Points); !sameFloats(got, []float64{1234.5, math.NaN(), 2450, 0.5}) {
		t.Errorf("demand %v: want the held tick as a gap", got)
	}
	// Demand is drawn when it was sampled; the held tick's gap at the tick.
	if !demand.Points[0].At.Equal(t0.Add(-time.Second)) || !demand.Points[1].At.Equal(t0.Add(3*time.Second)) {
		t.Errorf("demand times %v %v", demand.Points[0].At, demand.Points[1].At)
	}
	if got := values(forecast.Points); !sameFloats(got, []float64{1400, math.NaN(), math.NaN(), 2600}) {
		t.Errorf("forecast %v: want gaps for the ticks without one", got)
	}
	// Each forecast at the time it forecast; the gaps where theirs would be
	// (the last forecast looked 1 s past its tick).
	for i, want := range []time.Time{t0.Add(time.Second), t0.Add(4 * time.Second), t0.Add(7 * time.Second), t0.Add(10 * time.Second)} {
		if !forecast.Points[i].At.Equal(want) || !band.Points[i].At.Equal(want) {
			t.Errorf("forecast point %d at %v (band %v), want %v", i, forecast.Points[i].At, band.Points[i].At, want)
		}
	}
	if b := band.Points[0]; b.Lower != 1100 || b.Upper != 1700 || !math.IsNaN(band.Points[3].Lower) {
		t.Errorf("band %+v: want 1100..1700 first and none for the forecast without an interval", band.Points)
	}
	replicas, decided := c.Panels[1].Series[0], c.Panels[1].Series[1]
	if got := values(replicas.Points); !sameFloats(got, []float64{4, 4, 5, 5}) || replicas.Style != chart.Steps {
		t.Errorf("replicas %v (style %v): want 4 4 5 5 as steps", got, replicas.Style)
	}
	if got := values(decided.Points); !sameFloats(got, []float64{4, 4, 5, 6}) {
		t.Errorf("decided %v: want 4 4 5 6 (the forecast-only tick decided 6, left 5)", got)
	}
	if len(c.Windows) != 1 || c.Windows[0].Label != HeldWindow || !c.Windows[0].From.Equal(t0.Add(3*time.Second)) || !c.Windows[0].To.Equal(t0.Add(6*time.Second)) {
		t.Errorf("windows %+v: want the held tick's span, 14:00:03 to the next tick at 14:00:06", c.Windows)
	}

	// And it draws: both files, with the report's labels in the SVG.
	files, err := c.Write(filepath.Join(t.TempDir(), "scaling-e2e-web"))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(files.SVG)
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{DemandSeries, ForecastSeries, IntervalBand, ReplicasSeries, DecidedSeries, HeldWindow} {
		if !strings.Contains(string(svg), ">"+label+"<") {
			t.Errorf("the SVG has no %q text", label)
		}
	}
}

func TestHeldWindowsSpanRunsOfHeldTicks(t *testing.T) {
	outcomes := []string{"held", "held", "applied", "unchanged", "held", "applied", "held", "held"}
	var rows []Row
	for i, o := range outcomes {
		rows = append(rows, Row{At: t0.Add(time.Duration(i) * 10 * time.Second), Outcome: o})
	}
	got := HeldWindows(rows)
	want := [][2]int{{0, 20}, {40, 50}, {60, 70}} // seconds; the last run ends at its last tick
	if len(got) != len(want) {
		t.Fatalf("windows %+v, want %v", got, want)
	}
	for i, w := range want {
		if !got[i].From.Equal(t0.Add(time.Duration(w[0])*time.Second)) || !got[i].To.Equal(t0.Add(time.Duration(w[1])*time.Second)) {
			t.Errorf("window %d %v–%v, want %ds–%ds", i, got[i].From.Sub(t0), got[i].To.Sub(t0), w[0], w[1])
		}
	}
}

func sameFloats(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			return false
		}
	}
	return true
}
