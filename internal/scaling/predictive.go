package scaling

import (
	"fmt"
	"math"
	"time"

	"github.com/infraflow/infraflow/internal/forecast"
)

// PredictiveController is infraflow's predictive policy as a simulator
// Controller: a model chosen by backtest on the history (forecast.Auto) takes
// each new demand sample, forecasts the startup lead with its interval, and
// Decide applies the policy's guardrails. Recent accuracy is the 1 − WAPE of its
// own lead-step forecasts over the last AccuracyWindow steps.
type PredictiveController struct {
	Label    string
	Policy   Policy
	Step     time.Duration
	Coverage float64 // central interval; its upper bound is the headroom
	// AccuracyWindow in steps; 0 means one day.
	AccuracyWindow int

	fitted   *forecast.Fitted
	seen     int // demand samples the state has taken
	lead     int
	pending  []float64 // lead-step forecasts, oldest first; the last lead are still open
	absErr   []float64
	actual   []float64
	recent   []Recommendation
	lastMove time.Time
	start    time.Time
	// Decisions counts decisions by mode, for the report.
	Decisions map[Mode]int
}

// NewPredictiveController fits the forecaster on history (the training part).
func NewPredictiveController(label string, p Policy, step time.Duration, history []float64, coverage float64) (*PredictiveController, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	lead := p.leadSteps(step)
	auto := forecast.Auto{Period: forecast.StepsPer(24*time.Hour, step), WeeklyPeriod: forecast.StepsPer(7*24*time.Hour, step), Horizon: lead}
	fitted, err := auto.FitAuto(history)
	if err != nil {
		return nil, fmt.Errorf("predictive policy: fitting the forecaster: %w", err)
	}
	return &PredictiveController{Label: label, Policy: p, Step: step, Coverage: coverage, fitted: fitted,
		seen: len(history), lead: lead, start: time.Unix(0, 0), Decisions: map[Mode]int{}}, nil
}

// Model is the forecaster the backtest chose.
func (c *PredictiveController) Model() string { return c.fitted.Model }

func (c *PredictiveController) Name() string { return c.Label }

func (c *PredictiveController) Request(t int, demand []float64, replicas int) int {
	// Take every sample the state has not seen yet (normally just demand[t]).
	for ; c.seen < len(demand); c.seen++ {
		y := demand[c.seen]
		c.fitted.Observe(y)
		c.scoreArrival(y)
	}
	now := c.start.Add(time.Duration(t) * c.Step)
	pred := c.fitted.Predict(c.lead, c.Coverage)
	c.pending = append(c.pending, pred.Point[c.lead-1])
	window := c.AccuracyWindow
	if window == 0 {
		window = forecast.StepsPer(24*time.Hour, c.Step)
	}
	recentFrom := max(0, len(demand)-window)
	d, err := Decide(c.Policy, Input{
		Now: now, Step: c.Step, Demand: demand[recentFrom:],
		Forecast:        &Forecast{Model: pred.Model, Point: pred.Point, Upper: pred.Upper, RecentAccuracy: c.recentAccuracy(window)},
		CurrentReplicas: replicas, LastScaleAt: c.lastMove, Recent: c.recent,
	})
	if err != nil {
		return replicas
	}
	c.Decisions[d.Mode]++
	c.recent = append(c.recent, Recommendation{At: now, Replicas: d.Recommended})
	for len(c.recent) > 0 && c.recent[0].At.Before(now.Add(-c.Policy.ScaleDownStabilization)) {
		c.recent = c.recent[1:]
	}
	if d.Replicas != replicas {
		c.lastMove = now
	}
	return d.Replicas
}

// scoreArrival pairs a new sample with the forecast made lead steps earlier.
func (c *PredictiveController) scoreArrival(y float64) {
	if len(c.pending) < c.lead {
		return
	}
	f := c.pending[len(c.pending)-c.lead]
	if len(c.pending) > 4*c.lead {
		c.pending = c.pending[len(c.pending)-c.lead:]
	}
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return
	}
	c.absErr = append(c.absErr, math.Abs(y-f))
	c.actual = append(c.actual, math.Abs(y))
}

func (c *PredictiveController) recentAccuracy(window int) float64 {
	n := len(c.absErr)
	if n < window/4 {
		return math.NaN() // too little evidence either way
	}
	if n > window {
		c.absErr, c.actual = c.absErr[n-window:], c.actual[n-window:]
	}
	e, a := 0.0, 0.0
	for i := range c.absErr {
		e += c.absErr[i]
		a += c.actual[i]
	}
	if a == 0 {
		return math.NaN()
	}
	return 1 - e/a
}
