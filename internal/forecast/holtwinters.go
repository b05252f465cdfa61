package forecast

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Trend selects the trend component of Holt-Winters.
type Trend int

const (
	// TrendAuto fits both and keeps the one with the lower penalised robust loss.
	TrendAuto Trend = iota
	TrendNone
	TrendDamped
)

// HoltWinters is additive-season exponential smoothing in error-correction form:
//
//	level  l = l' + φb' + α·e
//	trend  b = φb' + β·e        (damped trend only; 0 < β ≤ α)
//	season s = s' + γ·e         (0 < γ ≤ 1−α)
//
// with e the one-step error. α, β, γ (and φ in [0.8, 0.98]) minimise the Huber loss
// of the one-step errors, found by Nelder-Mead on logistic transforms that keep
// them inside their bounds. The filter clips outlying errors (beyond ClipSigmas
// robust standard deviations) so a spike barely moves the state, but accepts them
// after ShiftSteps outliers in a row on one side, so a level shift is followed.
type HoltWinters struct {
	Period int
	Trend  Trend
	// MaxEvaluations caps the optimizer's objective evaluations (each one pass over
	// the data); 0 means 200.
	MaxEvaluations int
}

const (
	clipSigmas = 3.0
	shiftSteps = 3
	huberK     = 1.5 // in robust standard deviations
	minDamping = 0.8
	maxDamping = 0.98
)

func (m HoltWinters) Name() string {
	switch m.Trend {
	case TrendNone:
		return "holt-winters"
	case TrendDamped:
		return "holt-winters-damped"
	}
	return "holt-winters-auto"
}

// MinPoints asks for two seasons: one to start the season, one to learn from.
func (m HoltWinters) MinPoints() int { return 2 * max(2, m.Period) }

// hwParams are the smoothing parameters; beta and phi are unused without trend.
type hwParams struct {
	alpha, beta, gamma, phi float64
	damped                  bool
}

func logistic(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func logit(p float64) float64    { return math.Log(p / (1 - p)) }

func decodeHW(x []float64, damped bool) hwParams {
	p := hwParams{alpha: 0.001 + 0.998*logistic(x[0])}
	p.gamma = (1 - p.alpha) * logistic(x[1])
	if damped {
		p.damped = true
		p.beta = p.alpha * logistic(x[2])
		p.phi = minDamping + (maxDamping-minDamping)*logistic(x[3])
	}
	return p
}

func encodeHW(p hwParams) []float64 {
	x := []float64{logit((p.alpha - 0.001) / 0.998), logit(p.gamma / (1 - p.alpha))}
	if p.damped {
		x = append(x, logit(p.beta/p.alpha), logit((p.phi-minDamping)/(maxDamping-minDamping)))
	}
	return x
}

func (m HoltWinters) Fit(train []float64) (State, error) {
	s, err := m.fit(train)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m HoltWinters) fit(train []float64) (*hwState, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, fmt.Errorf("holt-winters: %w", err)
	}
	scale := robustDiffScale(train)
	var best *hwState
	bestScore := math.Inf(1)
	for _, damped := range []bool{false, true} {
		if (damped && m.Trend == TrendNone) || (!damped && m.Trend == TrendDamped) {
			continue
		}
		start := hwParams{alpha: 0.3, gamma: 0.1, damped: damped}
		if damped {
			start.beta, start.phi = 0.03, 0.95
		}
		p, loss := m.optimize(train, scale, start)
		// Penalise the damped trend's two extra parameters as AIC would a Gaussian
		// likelihood, with the robust loss standing in for the sum of squares.
		k := 2.0
		if damped {
			k = 4
		}
		score := float64(len(train))*math.Log(loss/float64(len(train))+1e-300) + 2*k
		if score < bestScore || best == nil {
			best, bestScore = m.finish(train, p, scale), score
		}
	}
	return best, nil
}

func (m HoltWinters) evaluations() int {
	if m.MaxEvaluations <= 0 {
		return 200
	}
	return m.MaxEvaluations
}

// finish re-estimates the clipping scale from the fit's own one-step errors and
// runs the filter once more with it, so the state carries a scale that matches
// the model rather than the raw differences.
func (m HoltWinters) finish(train []float64, p hwParams, scale float64) *hwState {
	st := newHWState(train, m.Period, p, scale)
	resid := st.run(train, nil)
	st = newHWState(train, m.Period, p, robustScale(resid, scale))
	st.run(train, nil)
	return st
}

// optimize minimises the Huber loss of one-step errors over the parameters,
// from start.
func (m HoltWinters) optimize(y []float64, scale float64, start hwParams) (hwParams, float64) {
	evals, runs := m.evaluations(), 2
	damped := start.damped
	inv := 1 / scale
	objective := func(x []float64) float64 {
		loss := newHWState(y, m.Period, decodeHW(x, damped), scale).huberLoss(y, inv)
		if !finite(loss) {
			return math.MaxFloat64
		}
		return loss
	}
	// Nelder-Mead can stall on the ridge where α and β trade off; one restart from
	// its best point, with a fresh simplex, is the usual cure and costs one more run.
	x := encodeHW(start)
	bestF := objective(x)
	for restart := 0; restart < runs; restart++ {
		result, err := optimize.Minimize(optimize.Problem{Func: objective}, x, &optimize.Settings{
			FuncEvaluations: evals / runs,
			Converger:       &optimize.FunctionConverge{Relative: 1e-6, Iterations: 40},
		}, &optimize.NelderMead{})
		// Minimize reports an error when it hits the evaluation cap; its best point
		// so far is still the best we have.
		if result != nil && finite(result.F) && result.F < bestF && (err == nil || len(result.X) == len(x)) {
			x, bestF = result.X, result.F
		}
	}
	return decodeHW(x, damped), bestF
}

// huberLoss filters y from the start and sums the Huber loss of the one-step
// errors in units of 1/inv: the optimizer's objective. It is update unrolled
// into local variables (the same arithmetic in the same order), because this
// loop is where fitting spends its time.
func (st *hwState) huberLoss(y []float64, inv float64) float64 {
	level, trend, next, run := st.level, st.trend, st.next, st.outlierRun
	season, clip := st.season, st.clip
	alpha, beta, gamma, phi, damped := st.p.alpha, st.p.beta, st.p.gamma, st.p.phi, st.p.damped
	loss := 0.0
	for _, v := range y {
		phiB := 0.0
		if damped {
			phiB = phi * trend
		}
		e := v - (level + phiB + season[next]) // the caller checked y is finite
		used := e
		switch {
		case e > clip:
			run = max(1, run+1)
		case e < -clip:
			run = min(-1, run-1)
		default:
			run = 0
		}
		if run != 0 && run < shiftSteps && run > -shiftSteps {
			used = math.Copysign(clip, e)
		}
		level += phiB + alpha*used
		if damped {
			trend = phiB + beta*used
		}
		season[next] += gamma * used
		if next++; next == len(season) {
			next = 0
		}
		z := e * inv
		if a := math.Abs(z); a <= huberK {
			loss += 0.5 * z * z
		} else {
			loss += huberK * (a - 0.5*huberK)
		}
	}
	st.level, st.trend, st.next, st.outlierRun = level, trend, next, run
	return loss
}

// robustDiffScale is the robust standard deviation of first differences: a
// one-step error scale that needs no model and ignores spikes.
func robustDiffScale(y []float64) float64 {
	d := make([]float64, 0, len(y)-1)
	for i := 1; i < len(y); i++ {
		d = append(d, y[i]-y[i-1])
	}
	return robustScale(d, 1e-9*(1+meanAbs(y)))
}

// robustScale is 1.4826 × the median absolute deviation from the median, or
// fallback when that is zero (a constant stretch).
func robustScale(x []float64, fallback float64) float64 {
	if len(x) == 0 {
		return fallback
	}
	s := append([]float64(nil), x...)
	med := selectKth(s, len(s)/2)
	for i := range s {
		s[i] = math.Abs(s[i] - med)
	}
	mad := 1.4826 * selectKth(s, len(s)/2)
	if !(mad > fallback) {
		return math.Max(fallback, 1e-12)
	}
	return mad
}

// selectKth reorders x and returns the value that sorting would put at index k
// (Hoare's selection: linear time on average, where a sort is n log n).
func selectKth(x []float64, k int) float64 {
	lo, hi := 0, len(x)-1
	for lo < hi {
		// Median of three as the pivot keeps sorted input linear.
		mid := lo + (hi-lo)/2
		if x[mid] < x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] < x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] < x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		pivot := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] < pivot {
				i++
			}
			for x[j] > pivot {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return x[k]
		}
	}
	return x[k]
}

func meanAbs(y []float64) float64 {
	sum := 0.0
	for _, v := range y {
		sum += math.Abs(v)
	}
	return sum / float64(max(1, len(y)))
}

type hwState struct {
	p          hwParams
	level      float64
	trend      float64
	season     []float64
	next       int // season slot of the next step
	clip       float64
	outlierRun int // consecutive outliers on one side; the sign gives the side
}

// newHWState starts the level at the first season's mean and the season at the
// mean deviation per slot over the first (up to three) seasons.
func newHWState(y []float64, period int, p hwParams, scale float64) *hwState {
	period = max(1, period)
	st := &hwState{p: p, season: make([]float64, period), clip: clipSigmas * scale}
	seasons := min(3, len(y)/period)
	for k := 0; k < seasons; k++ {
		chunk := y[k*period : (k+1)*period]
		mean := 0.0
		for _, v := range chunk {
			mean += v
		}
		mean /= float64(period)
		if k == 0 {
			st.level = mean
		}
		for i, v := range chunk {
			st.season[i] += (v - mean) / float64(seasons)
		}
	}
	return st
}

// run filters y from the start, calling onError with each raw one-step error.
func (st *hwState) run(y []float64, onError func(float64)) []float64 {
	var resid []float64
	if onError == nil {
		resid = make([]float64, 0, len(y))
	}
	for _, v := range y {
		e := st.update(v)
		if onError != nil {
			onError(e)
		} else {
			resid = append(resid, e)
		}
	}
	return resid
}

// update takes one observation and returns its raw one-step error.
func (st *hwState) update(y float64) float64 {
	phiB := 0.0
	if st.p.damped {
		phiB = st.p.phi * st.trend
	}
	pred := st.level + phiB + st.season[st.next]
	e := 0.0
	if finite(y) {
		e = y - pred
	}
	used := e
	switch {
	case e > st.clip:
		st.outlierRun = max(1, st.outlierRun+1)
	case e < -st.clip:
		st.outlierRun = min(-1, st.outlierRun-1)
	default:
		st.outlierRun = 0
	}
	if st.outlierRun != 0 && abs(st.outlierRun) < shiftSteps {
		used = math.Copysign(st.clip, e)
	}
	st.level += phiB + st.p.alpha*used
	if st.p.damped {
		st.trend = phiB + st.p.beta*used
	}
	st.season[st.next] += st.p.gamma * used
	st.next = (st.next + 1) % len(st.season)
	return e
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (st *hwState) Observe(y float64) { st.update(y) }

func (st *hwState) Forecast(h int) []float64 {
	f := make([]float64, h)
	damp, cum := 1.0, 0.0
	for i := range f {
		if st.p.damped {
			damp *= st.p.phi
			cum += damp
		}
		f[i] = st.level + cum*st.trend + st.season[(st.next+i)%len(st.season)]
	}
	return sanitize(f, st.level)
}
