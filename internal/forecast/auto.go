package forecast

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// Median combines models by the median of their forecasts, step by step: a
// forecast that is robust to one member going wrong.
type Median struct{ Members []Model }

func (m Median) Name() string {
	names := make([]string, len(m.Members))
	for i, mm := range m.Members {
		names[i] = mm.Name()
	}
	return "median(" + strings.Join(names, ",") + ")"
}

func (m Median) MinPoints() int {
	n := 1
	for _, mm := range m.Members {
		n = max(n, mm.MinPoints())
	}
	return n
}

func (m Median) Fit(train []float64) (State, error) {
	if len(m.Members) == 0 {
		return nil, fmt.Errorf("median: %w: no members", ErrBadInput)
	}
	st := &medianState{}
	for _, mm := range m.Members {
		s, err := mm.Fit(train)
		if err != nil {
			return nil, fmt.Errorf("median: member %s: %w", mm.Name(), err)
		}
		st.members = append(st.members, s)
	}
	return st, nil
}

type medianState struct{ members []State }

func (st *medianState) Observe(y float64) {
	for _, s := range st.members {
		s.Observe(y)
	}
}

func (st *medianState) Forecast(h int) []float64 {
	all := make([][]float64, len(st.members))
	for i, s := range st.members {
		all[i] = s.Forecast(h)
	}
	f := make([]float64, h)
	col := make([]float64, len(all))
	for k := range f {
		for i := range all {
			col[i] = all[i][k]
		}
		f[k] = median(col)
	}
	return f
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Candidates is the default set the automatic choice backtests: the baselines,
// Holt-Winters with and without a damped trend, and Fourier regression with AR
// errors, each with the weekly season too when the training data covers at least
// three weeks (two to fit on, one to validate).
func Candidates(period, weeklyPeriod, n int) []Model {
	period = max(1, period)
	c := []Model{LastValue{}, SeasonalNaive{Period: period, Label: "daily"},
		HoltWinters{Period: period, Trend: TrendNone}, HoltWinters{Period: period, Trend: TrendDamped},
		FourierAR{Period: period}}
	if weeklyPeriod > 0 && n >= 3*weeklyPeriod {
		c = append(c, SeasonalNaive{Period: weeklyPeriod, Label: "weekly"}, FourierAR{Period: period, WeeklyPeriod: weeklyPeriod})
	}
	return c
}

// Auto chooses a model per series by a rolling backtest on the training data: each
// candidate is fitted on the first part, then steps through the rest (the
// validation part) forecasting 1..Horizon steps ahead from every origin without
// refitting, exactly as it will be used. The lowest mean absolute error wins,
// the median of the best CombineBest candidates competing too; the winner is
// refitted on all the training data. Its validation errors, per step ahead, give
// the prediction intervals.
type Auto struct {
	Period       int // daily season in steps
	WeeklyPeriod int // weekly season in steps; 0 for none
	Horizon      int // the most steps ahead the caller will ask for
	// Candidates overrides the default set (Candidates(...)).
	Candidates []Model
	// ValidationShare of the training data validates; 0 means 0.25.
	ValidationShare float64
	// CombineBest is how many of the best candidates the median combines; 0 means 3.
	CombineBest int
}

func (a Auto) Name() string   { return "auto" }
func (a Auto) MinPoints() int { return 4*max(1, a.Horizon) + 16 }

// Score is one candidate's backtest result.
type Score struct {
	Model string  `json:"model"`
	MAE   float64 `json:"mae"`
	// WAPE is Σ|error| / Σ|actual| over the validation part (all steps ahead).
	WAPE float64 `json:"wape"`
}

// Fitted is the chosen model's state with its backtest and interval errors. It is
// itself a State.
type Fitted struct {
	State
	Model    string
	Horizon  int
	Backtest []Score
	// errors[k] are the sorted validation errors (actual − forecast) k+1 steps ahead.
	errors [][]float64
}

// Fit implements Model.
func (a Auto) Fit(train []float64) (State, error) { return a.FitAuto(train) }

// FitAuto runs the backtest and returns the chosen, refitted model.
func (a Auto) FitAuto(train []float64) (*Fitted, error) {
	if err := checkFinite(train, a.MinPoints()); err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	h := max(1, a.Horizon)
	share := a.ValidationShare
	if share <= 0 || share >= 1 {
		share = 0.25
	}
	split := len(train) - int(math.Round(share*float64(len(train))))
	candidates := a.Candidates
	if candidates == nil {
		candidates = Candidates(a.Period, a.WeeklyPeriod, len(train))
	}

	type run struct {
		model    Model
		forecast [][]float64 // forecast[o] made at origin split-1+o
		score    Score
	}
	var runs []run
	for _, m := range candidates {
		if m.MinPoints() > split {
			continue
		}
		st, err := m.Fit(train[:split])
		if err != nil {
			continue // a candidate that cannot fit this series is not a candidate
		}
		r := run{model: m}
		for t := split; t < len(train); t++ {
			r.forecast = append(r.forecast, st.Forecast(h))
			st.Observe(train[t])
		}
		r.score = scoreForecasts(m.Name(), train, split, r.forecast)
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("auto: %w: no candidate fits %d points", ErrBadInput, len(train))
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].score.MAE < runs[j].score.MAE })

	best := runs[0].model
	bestForecast := runs[0].forecast
	scores := make([]Score, 0, len(runs)+1)
	for _, r := range runs {
		scores = append(scores, r.score)
	}
	if k := min(a.combineBest(), len(runs)); k >= 2 {
		members := make([]Model, k)
		combined := make([][]float64, len(runs[0].forecast))
		col := make([]float64, k)
		for i := range members {
			members[i] = runs[i].model
		}
		for o := range combined {
			combined[o] = make([]float64, h)
			for s := 0; s < h; s++ {
				for i := 0; i < k; i++ {
					col[i] = runs[i].forecast[o][s]
				}
				combined[o][s] = median(col)
			}
		}
		combo := Median{Members: members}
		sc := scoreForecasts(combo.Name(), train, split, combined)
		scores = append(scores, sc)
		if sc.MAE < runs[0].score.MAE {
			best, bestForecast = combo, combined
		}
	}
	sort.SliceStable(scores, func(i, j int) bool { return scores[i].MAE < scores[j].MAE })

	st, err := best.Fit(train)
	if err != nil {
		return nil, fmt.Errorf("auto: refitting %s on all training data: %w", best.Name(), err)
	}
	return &Fitted{State: st, Model: best.Name(), Horizon: h, Backtest: scores,
		errors: forecastErrors(train, split, bestForecast, h)}, nil
}

func (a Auto) combineBest() int {
	if a.CombineBest == 0 {
		return 3
	}
	return a.CombineBest
}

// scoreForecasts compares forecasts made at origins split-1.. with what followed.
func scoreForecasts(name string, y []float64, split int, forecast [][]float64) Score {
	sumAbs, sumActual, n := 0.0, 0.0, 0
	for o, f := range forecast {
		for s, v := range f {
			t := split + o + s
			if t >= len(y) {
				break
			}
			sumAbs += math.Abs(y[t] - v)
			sumActual += math.Abs(y[t])
			n++
		}
	}
	sc := Score{Model: name, MAE: math.Inf(1), WAPE: math.Inf(1)}
	if n > 0 && finite(sumAbs) {
		sc.MAE = sumAbs / float64(n)
		if sumActual > 0 {
			sc.WAPE = sumAbs / sumActual
		}
	}
	return sc
}

func forecastErrors(y []float64, split int, forecast [][]float64, h int) [][]float64 {
	errs := make([][]float64, h)
	for o, f := range forecast {
		for s, v := range f {
			if t := split + o + s; t < len(y) {
				errs[s] = append(errs[s], y[t]-v)
			}
		}
	}
	for _, e := range errs {
		sort.Float64s(e)
	}
	return errs
}

// Prediction is a point forecast with a central prediction interval.
type Prediction struct {
	Model    string    `json:"model"`
	Coverage float64   `json:"coverage"`
	Point    []float64 `json:"point"`
	Lower    []float64 `json:"lower"`
	Upper    []float64 `json:"upper"`
}

// Predict forecasts h steps ahead with a central interval meant to hold the
// actual value with probability coverage (0.8 → the 10% and 90% quantiles of the
// backtest errors at each step ahead). Steps beyond the backtest horizon use the
// last horizon's errors.
func (f *Fitted) Predict(h int, coverage float64) Prediction {
	point := f.Forecast(h)
	p := Prediction{Model: f.Model, Coverage: coverage, Point: point,
		Lower: make([]float64, h), Upper: make([]float64, h)}
	for s := range point {
		lo, hi := f.ErrorQuantile(s+1, (1-coverage)/2), f.ErrorQuantile(s+1, (1+coverage)/2)
		p.Lower[s], p.Upper[s] = point[s]+lo, point[s]+hi
	}
	return p
}

// ErrorQuantile is the q-quantile of the backtest errors (actual − forecast)
// steps ahead; 0 when there were none.
func (f *Fitted) ErrorQuantile(steps int, q float64) float64 {
	if len(f.errors) == 0 {
		return 0
	}
	e := f.errors[min(max(steps, 1), len(f.errors))-1]
	if len(e) == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	return stat.Quantile(q, stat.Empirical, e, nil)
}
