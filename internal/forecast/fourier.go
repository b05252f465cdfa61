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

// fourierTable holds the sines and cosines of one season's harmonics, slot by
// slot, so a row of the design costs lookups instead of trigonometry.
type fourierTable struct {
	period, terms int
	values        []float64 // values[slot*2*terms+2(k-1)] = sin, +1 = cos
}

func newFourierTable(period, terms int) fourierTable {
	tb := fourierTable{period: period, terms: terms}
	if terms <= 0 || period <= 0 {
		return tb
	}
	tb.values = make([]float64, period*2*terms)
	for slot := 0; slot < period; slot++ {
		for k := 1; k <= terms; k++ {
			a := 2 * math.Pi * float64(k) * float64(slot) / float64(period)
			tb.values[slot*2*terms+2*(k-1)], tb.values[slot*2*terms+2*(k-1)+1] = math.Sin(a), math.Cos(a)
		}
	}
	return tb
}

// fourierDesign writes the regressors of any step: a constant, then the daily
// and weekly harmonics.
type fourierDesign struct{ daily, weekly fourierTable }

func (m FourierAR) design() fourierDesign {
	daily, weekly := m.harmonics()
	return fourierDesign{daily: newFourierTable(m.Period, daily), weekly: newFourierTable(m.WeeklyPeriod, weekly)}
}

func (d fourierDesign) cols() int { return 1 + 2*d.daily.terms + 2*d.weekly.terms }

// cycle is how many steps the regressors take to repeat.
func (d fourierDesign) cycle() int {
	c := max(1, d.daily.period)
	if d.weekly.terms > 0 {
		c = lcm(c, d.weekly.period)
	}
	return c
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// features writes the regressors of step t into row.
func (d fourierDesign) features(t int, row []float64) {
	row[0] = 1
	j := d.daily.put(t, row, 1)
	d.weekly.put(t, row, j)
}

// put writes step t's harmonics into row from column j and returns the next column.
func (tb *fourierTable) put(t int, row []float64, j int) int {
	if tb.terms == 0 {
		return j
	}
	w := 2 * tb.terms
	slot := t % tb.period
	copy(row[j:j+w], tb.values[slot*w:(slot+1)*w])
	return j + w
}

func (m FourierAR) Fit(train []float64) (State, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, fmt.Errorf("fourier-ar: %w", err)
	}
	design := m.design()
	cols := design.cols()
	n := len(train)
	// The regressors repeat every cycle (the week, or the day without a weekly
	// season), so the weighted normal equations are summed per slot of the cycle:
	// Σ_t w_t (y_t − x_t·b)² = Σ_slots W_s (ȳ_s − x_s·b)² + a constant, with W_s
	// the slot's total weight and ȳ_s its weighted mean. The same solution for a
	// cycle's rows of work instead of n.
	cycle := min(n, design.cycle())
	x := mat.NewDense(cycle, cols, nil)
	for s := 0; s < cycle; s++ {
		design.features(s, x.RawRowView(s))
	}
	weights := make([]float64, n)
	for i := range weights {
		weights[i] = 1
	}
	slotWeight, slotMean, fitted := make([]float64, cycle), make([]float64, cycle), make([]float64, cycle)
	var beta []float64
	resid := make([]float64, n)
	scale := 0.0
	for round := 0; round < 3; round++ {
		clear(slotWeight)
		clear(slotMean)
		for t, v := range train {
			slotWeight[t%cycle] += weights[t]
			slotMean[t%cycle] += weights[t] * v
		}
		for s := range slotMean {
			if slotWeight[s] > 0 {
				slotMean[s] /= slotWeight[s]
			}
		}
		b, err := weightedLeastSquares(x, slotMean, slotWeight)
		if err != nil {
			return nil, fmt.Errorf("fourier-ar: regression: %w", err)
		}
		beta = b
		for s := range fitted {
			fitted[s] = dot(x.RawRowView(s), beta)
		}
		for t := 0; t < n; t++ {
			resid[t] = train[t] - fitted[t%cycle]
		}
		scale = robustScale(resid, 1e-9*(1+meanAbs(train)))
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
	st := &fourierARState{design: design, beta: beta, ar: ar, t: n, row: make([]float64, cols)}
	st.recent = make([]float64, len(ar.coef))
	for i := range st.recent {
		st.recent[i] = resid[n-1-i]
	}
	st.scale = scale
	return st, nil
}

// weightedLeastSquares solves min Σ w_i (y_i − x_i·b)² through the normal
// equations; the design is small (tens of columns), so this is O(n·cols²).
func weightedLeastSquares(x *mat.Dense, y, w []float64) ([]float64, error) {
	n, cols := x.Dims()
	// Accumulate the upper triangle in plain slices: the accessors of mat cost
	// more than the arithmetic at this size.
	upper := make([]float64, cols*cols)
	rhs := make([]float64, cols)
	for i := 0; i < n; i++ {
		row := x.RawRowView(i)
		for a := 0; a < cols; a++ {
			wa := w[i] * row[a]
			rhs[a] += wa * y[i]
			acc := upper[a*cols : (a+1)*cols]
			for b := a; b < cols; b++ {
				acc[b] += wa * row[b]
			}
		}
	}
	xtx := mat.NewSymDense(cols, nil)
	for a := 0; a < cols; a++ {
		for b := a; b < cols; b++ {
			xtx.SetSym(a, b, upper[a*cols+b])
		}
	}
	xty := mat.NewVecDense(cols, rhs)
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
	design fourierDesign
	beta   []float64
	ar     arModel
	t      int       // index of the next step
	recent []float64 // recent[i] is the residual i+1 steps back
	row    []float64
	scale  float64
}

func (st *fourierARState) regression(t int) float64 {
	st.design.features(t, st.row)
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
