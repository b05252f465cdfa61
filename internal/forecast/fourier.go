package forecast

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// FourierAR is a regression of the series on daily (and weekly) Fourier terms
// plus a constant, with AR(p) errors: the regression carries the shape of the
// day and week, the autoregression carries the departure of the recent past from
// it (level shifts, busy days). The regression is fitted by least squares with
// two Huber reweighting rounds so spikes do not bend the daily shape; p is chosen
// by BIC up to MaxLag.
type FourierAR struct {
	Period       int // daily season in steps
	WeeklyPeriod int // 0 for none
	// DailyTerms and WeeklyTerms are the sine/cosine pairs; 0 means 8 and 3.
	DailyTerms, WeeklyTerms int
	// MaxLag bounds the AR order; 0 means 6.
	MaxLag int
}

func (m FourierAR) Name() string {
	if m.WeeklyPeriod > 0 {
		return "fourier-ar-weekly"
	}
	return "fourier-ar"
}

func (m FourierAR) MinPoints() int { return 2 * max(2, m.Period, m.WeeklyPeriod) }

func (m FourierAR) harmonics() (daily, weekly int) {
	daily, weekly = m.DailyTerms, m.WeeklyTerms
	if daily == 0 {
		daily = 8
	}
	if weekly == 0 {
		weekly = 3
	}
	daily = min(daily, m.Period/2)
	if m.WeeklyPeriod <= 0 {
		weekly = 0
	}
	return daily, weekly
}

// features writes the regressors of step t into row.
func (m FourierAR) features(t int, row []float64) {
	daily, weekly := m.harmonics()
	row[0] = 1
	j := 1
	for k := 1; k <= daily; k++ {
		a := 2 * math.Pi * float64(k) * float64(t%m.Period) / float64(m.Period)
		row[j], row[j+1] = math.Sin(a), math.Cos(a)
		j += 2
	}
	for k := 1; k <= weekly; k++ {
		a := 2 * math.Pi * float64(k) * float64(t%m.WeeklyPeriod) / float64(m.WeeklyPeriod)
		row[j], row[j+1] = math.Sin(a), math.Cos(a)
		j += 2
	}
}

func (m FourierAR) Fit(train []float64) (State, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, fmt.Errorf("fourier-ar: %w", err)
	}
	daily, weekly := m.harmonics()
	cols := 1 + 2*daily + 2*weekly
	n := len(train)
	x := mat.NewDense(n, cols, nil)
	for t := 0; t < n; t++ {
		m.features(t, x.RawRowView(t))
	}
	weights := make([]float64, n)
	for i := range weights {
		weights[i] = 1
	}
	var beta []float64
	resid := make([]float64, n)
	for round := 0; round < 3; round++ {
		b, err := weightedLeastSquares(x, train, weights)
		if err != nil {
			return nil, fmt.Errorf("fourier-ar: regression: %w", err)
		}
		beta = b
		row := make([]float64, cols)
		for t := 0; t < n; t++ {
			m.features(t, row)
			resid[t] = train[t] - dot(row, beta)
		}
		scale := robustScale(resid, 1e-9*(1+meanAbs(train)))
		for t := range weights {
			if a := math.Abs(resid[t]) / scale; a > huberK {
				weights[t] = huberK / a
			} else {
				weights[t] = 1
			}
		}
	}
	maxLag := m.MaxLag
	if maxLag <= 0 {
		maxLag = 6
	}
	ar := fitAR(resid, maxLag)
	st := &fourierARState{model: m, beta: beta, ar: ar, t: n, row: make([]float64, cols)}
	st.recent = make([]float64, len(ar.coef))
	for i := range st.recent {
		st.recent[i] = resid[n-1-i]
	}
	st.scale = robustScale(resid, 1e-9*(1+meanAbs(train)))
	return st, nil
}

// weightedLeastSquares solves min Σ w_i (y_i − x_i·b)² through the normal
// equations; the design is small (tens of columns), so this is O(n·cols²).
func weightedLeastSquares(x *mat.Dense, y, w []float64) ([]float64, error) {
	n, cols := x.Dims()
	xtx := mat.NewSymDense(cols, nil)
	xty := mat.NewVecDense(cols, nil)
	for i := 0; i < n; i++ {
		row := x.RawRowView(i)
		for a := 0; a < cols; a++ {
			wa := w[i] * row[a]
			xty.SetVec(a, xty.AtVec(a)+wa*y[i])
			for b := a; b < cols; b++ {
				xtx.SetSym(a, b, xtx.At(a, b)+wa*row[b])
			}
		}
	}
	// A tiny ridge keeps the solve defined when a harmonic is not identified (a
	// season longer than the data).
	for a := 0; a < cols; a++ {
		xtx.SetSym(a, a, xtx.At(a, a)*(1+1e-10)+1e-12)
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(xtx); !ok {
		return nil, fmt.Errorf("normal equations are not positive definite")
	}
	var b mat.VecDense
	if err := chol.SolveVecTo(&b, xty); err != nil {
		return nil, err
	}
	return b.RawVector().Data, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

type arModel struct {
	intercept float64
	coef      []float64 // coef[i] multiplies the residual i+1 steps back
}

// fitAR fits r_t = c + Σ a_i r_{t−i} by least squares for p = 1..maxLag and keeps
// the order with the lowest BIC.
func fitAR(r []float64, maxLag int) arModel {
	best := arModel{coef: []float64{0}}
	bestBIC := math.Inf(1)
	for p := 1; p <= maxLag && p < len(r)/4; p++ {
		rows := len(r) - p
		x := mat.NewDense(rows, p+1, nil)
		y := make([]float64, rows)
		for t := p; t < len(r); t++ {
			row := x.RawRowView(t - p)
			row[0] = 1
			for i := 1; i <= p; i++ {
				row[i] = r[t-i]
			}
			y[t-p] = r[t]
		}
		w := make([]float64, rows)
		for i := range w {
			w[i] = 1
		}
		b, err := weightedLeastSquares(x, y, w)
		if err != nil {
			continue
		}
		sse := 0.0
		for t := 0; t < rows; t++ {
			e := y[t] - dot(x.RawRowView(t), b)
			sse += e * e
		}
		bic := float64(rows)*math.Log(sse/float64(rows)+1e-300) + float64(p+1)*math.Log(float64(rows))
		if bic < bestBIC && allFinite(b) {
			bestBIC = bic
			best = arModel{intercept: b[0], coef: append([]float64(nil), b[1:]...)}
		}
	}
	return best
}

func allFinite(x []float64) bool {
	for _, v := range x {
		if !finite(v) {
			return false
		}
	}
	return true
}

type fourierARState struct {
	model  FourierAR
	beta   []float64
	ar     arModel
	t      int       // index of the next step
	recent []float64 // recent[i] is the residual i+1 steps back
	row    []float64
	scale  float64
}

func (st *fourierARState) regression(t int) float64 {
	st.model.features(t, st.row)
	return dot(st.row, st.beta)
}

func (st *fourierARState) nextResidual(recent []float64) float64 {
	r := st.ar.intercept
	for i, a := range st.ar.coef {
		r += a * recent[i]
	}
	return r
}

func (st *fourierARState) Observe(y float64) {
	var r float64
	if finite(y) {
		r = y - st.regression(st.t)
		// Clip the residual fed to the AR so a wild spike cannot throw the forecast
		// far; the bound is wide (nine robust deviations of the regression residual)
		// so ordinary busy days and shifts pass.
		limit := 3 * clipSigmas * st.scale
		r = math.Max(-limit, math.Min(limit, r))
	} else {
		r = st.nextResidual(st.recent)
	}
	copy(st.recent[1:], st.recent[:len(st.recent)-1])
	if len(st.recent) > 0 {
		st.recent[0] = r
	}
	st.t++
}

func (st *fourierARState) Forecast(h int) []float64 {
	recent := append([]float64(nil), st.recent...)
	f := make([]float64, h)
	for i := range f {
		r := st.nextResidual(recent)
		if len(recent) > 0 {
			copy(recent[1:], recent[:len(recent)-1])
			recent[0] = r
		}
		f[i] = st.regression(st.t+i) + r
	}
	fallback := st.regression(st.t)
	return sanitize(f, fallback)
}
