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

func (m Median) Name() string   { return "median(" + memberNames(m.Members) + ")" }
func (m Median) MinPoints() int { return membersMinPoints(m.Members) }

func (m Median) Fit(train []float64) (State, error) {
	members, err := fitMembers("median", m.Members, train)
	if err != nil {
		return nil, err
	}
	return &combinedState{members: members, combine: median}, nil
}

// combinedState steps every member and combines their forecasts step by step.
type combinedState struct {
	members []State
	combine func([]float64) float64
}

func (st *combinedState) Observe(y float64) {
	for _, s := range st.members {
		s.Observe(y)
	}
}

func (st *combinedState) Forecast(h int) []float64 {
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
		f[k] = st.combine(col)
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

// Mean combines models by the mean of their forecasts, step by step: the
// simple average that forecast combination studies find hard to beat.
type Mean struct{ Members []Model }

func (m Mean) Name() string   { return "mean(" + memberNames(m.Members) + ")" }
func (m Mean) MinPoints() int { return membersMinPoints(m.Members) }
func (m Mean) Fit(train []float64) (State, error) {
	members, err := fitMembers("mean", m.Members, train)
	if err != nil {
		return nil, err
	}
	return &combinedState{members: members, combine: mean}, nil
}

func memberNames(ms []Model) string {
	names := make([]string, len(ms))
	for i, mm := range ms {
		names[i] = mm.Name()
	}
	return strings.Join(names, ",")
}

func membersMinPoints(ms []Model) int {
	n := 1
	for _, mm := range ms {
		n = max(n, mm.MinPoints())
	}
	return n
}

func fitMembers(kind string, ms []Model, train []float64) ([]State, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s: %w: no members", kind, ErrBadInput)
	}
	var states []State
	for _, mm := range ms {
		s, err := mm.Fit(train)
		if err != nil {
			return nil, fmt.Errorf("%s: member %s: %w", kind, mm.Name(), err)
		}
		states = append(states, s)
	}
	return states, nil
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// Candidates is the default set the automatic choice backtests: the baselines,
// the seasonal median, Holt-Winters with and without a damped trend, and
// Fourier regression with AR errors, each with the weekly season too when the
// training data covers at least four weeks: the earliest backtest origin, half
// way, must leave the two weeks they need to fit on.
func Candidates(period, weeklyPeriod, n int) []Model {
	period = max(1, period)
	c := []Model{LastValue{}, SeasonalNaive{Period: period, Label: "daily"}, SeasonalMedian{Period: period},
		HoltWinters{Period: period, Trend: TrendNone}, HoltWinters{Period: period, Trend: TrendDamped},
		FourierAR{Period: period}}
	if weeklyPeriod > 0 && n >= 4*weeklyPeriod {
		c = append(c, SeasonalNaive{Period: weeklyPeriod, Label: "weekly"}, FourierAR{Period: period, WeeklyPeriod: weeklyPeriod})
	}
	return c
}

// Auto chooses a model per series by a rolling-origin backtest on the training
// data only. The last ValidationShare of it is cut into Folds; at the start of
// each fold every candidate is fitted on the data before it, then steps through
// the rest of the training data forecasting 1..Horizon steps ahead from every
// origin without refitting, exactly as it will be used. A candidate is scored by
// the mean absolute error of its Horizon-step forecasts over all folds (the
// horizon the caller asks for, not an easier one); the mean of the best two and
// of the best three, and the median of the best three, compete too. The winner
// is refitted on all the training data, and its backtest errors, per step
// ahead, give the prediction intervals.
type Auto struct {
	Period       int // daily season in steps
	WeeklyPeriod int // weekly season in steps; 0 for none
	Horizon      int // the most steps ahead the caller will ask for
	// Candidates overrides the default set (Candidates(...)).
	Candidates []Model
	// ValidationShare of the training data is backtested; 0 means 0.5.
	ValidationShare float64
	// Folds are the fit origins within the validated part; 0 means 2 (at 50% and
	// 75% of the training data with the default share).
	Folds int
	// CombineBest is how many of the best candidates the combinations take at
	// most; 0 means 3, 1 turns combinations off.
	CombineBest int
}

func (a Auto) Name() string   { return "auto" }
func (a Auto) MinPoints() int { return 4*max(1, a.Horizon) + 16 }

// Score is one candidate's backtest result.
type Score struct {
	Model string  `json:"model"`
	MAE   float64 `json:"mae"`
	// WAPE is Σ|error| / Σ|actual| over the validation part (Horizon steps ahead).
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

// backtestRun is one model's forecasts at every fold: forecast[f][o] was made at
// origin folds[f]-1+o.
type backtestRun struct {
	model    Model
	forecast [][][]float64
	score    Score
}

// foldOrigins are the fit origins, earliest first; folds too short for any use
// are dropped.
func (a Auto) foldOrigins(n int) []int {
	share := a.ValidationShare
	if share <= 0 || share >= 1 {
		share = 0.5
	}
	folds := a.Folds
	if folds <= 0 {
		folds = 2
	}
	validated := int(math.Round(share * float64(n)))
	var origins []int
	for i := 0; i < folds; i++ {
		o := n - validated + i*validated/folds
		if o >= a.MinPoints()/2 && o < n && (len(origins) == 0 || o > origins[len(origins)-1]) {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		origins = []int{n - max(1, validated)}
	}
	return origins
}

// FitAuto runs the backtest and returns the chosen, refitted model.
func (a Auto) FitAuto(train []float64) (*Fitted, error) {
	if err := checkFinite(train, a.MinPoints()); err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	h := max(1, a.Horizon)
	candidates := a.Candidates
	if candidates == nil {
		candidates = Candidates(a.Period, a.WeeklyPeriod, len(train))
	}
	// The earliest fold must leave every candidate that can compete enough to fit
	// on; when none can, the fold goes and the backtest is shorter.
	origins := a.foldOrigins(len(train))
	var runs []backtestRun
	for len(origins) > 0 {
		runs = runs[:0]
		for _, m := range candidates {
			if r, ok := backtest(m, train, origins, h); ok {
				runs = append(runs, r)
			}
		}
		if len(runs) > 0 {
			break
		}
		origins = origins[1:]
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("auto: %w: no candidate fits %d points", ErrBadInput, len(train))
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].score.MAE < runs[j].score.MAE })

	best := runs[0]
	scores := make([]Score, 0, len(runs)+3)
	for _, r := range runs {
		scores = append(scores, r.score)
	}
	for _, c := range a.combinations(runs, train, origins, h) {
		scores = append(scores, c.score)
		if c.score.MAE < best.score.MAE {
			best = c
		}
	}
	sort.SliceStable(scores, func(i, j int) bool { return scores[i].MAE < scores[j].MAE })

	st, err := best.model.Fit(train)
	if err != nil {
		return nil, fmt.Errorf("auto: refitting %s on all training data: %w", best.model.Name(), err)
	}
	return &Fitted{State: st, Model: best.model.Name(), Horizon: h, Backtest: scores,
		errors: forecastErrors(train, origins, best.forecast, h)}, nil
}

// backtest fits m at every origin and steps it to the end of the training data.
func backtest(m Model, train []float64, origins []int, h int) (backtestRun, bool) {
	r := backtestRun{model: m}
	for _, origin := range origins {
		if m.MinPoints() > origin {
			return r, false
		}
		st, err := m.Fit(train[:origin])
		if err != nil {
			return r, false // a candidate that cannot fit this series is not a candidate
		}
		var fc [][]float64
		for t := origin; t < len(train); t++ {
			fc = append(fc, st.Forecast(h))
			st.Observe(train[t])
		}
		r.forecast = append(r.forecast, fc)
	}
	r.score = scoreForecasts(m.Name(), train, origins, r.forecast, h)
	return r, true
}

// combinations are the mean of the best two and three runs and the median of
// the best three, with their backtest forecasts.
func (a Auto) combinations(runs []backtestRun, train []float64, origins []int, h int) []backtestRun {
	most := a.CombineBest
	if most == 0 {
		most = 3
	}
	var out []backtestRun
	for k := 2; k <= min(most, len(runs)); k++ {
		members := make([]Model, k)
		for i := range members {
			members[i] = runs[i].model
		}
		kinds := []struct {
			model   Model
			combine func([]float64) float64
		}{{Mean{Members: members}, mean}}
		if k >= 3 {
			kinds = append(kinds, struct {
				model   Model
				combine func([]float64) float64
			}{Median{Members: members}, median})
		}
		for _, kind := range kinds {
			c := backtestRun{model: kind.model}
			col := make([]float64, k)
			for f := range origins {
				combined := make([][]float64, len(runs[0].forecast[f]))
				for o := range combined {
					combined[o] = make([]float64, h)
					for s := 0; s < h; s++ {
						for i := 0; i < k; i++ {
							col[i] = runs[i].forecast[f][o][s]
						}
						combined[o][s] = kind.combine(col)
					}
				}
				c.forecast = append(c.forecast, combined)
			}
			c.score = scoreForecasts(kind.model.Name(), train, origins, c.forecast, h)
			out = append(out, c)
		}
	}
	return out
}

// scoreForecasts compares the h-step forecasts made at every fold's origins
// with what followed.
func scoreForecasts(name string, y []float64, origins []int, forecast [][][]float64, h int) Score {
	sumAbs, sumActual, n := 0.0, 0.0, 0
	for f, origin := range origins {
		for o, fc := range forecast[f] {
			t := origin + o + h - 1
			if t >= len(y) {
				break
			}
			sumAbs += math.Abs(y[t] - fc[h-1])
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

func forecastErrors(y []float64, origins []int, forecast [][][]float64, h int) [][]float64 {
	errs := make([][]float64, h)
	for f, origin := range origins {
		for o, fc := range forecast[f] {
			for s, v := range fc {
				if t := origin + o + s; t < len(y) {
					errs[s] = append(errs[s], y[t]-v)
				}
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
