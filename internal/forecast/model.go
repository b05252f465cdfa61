package forecast

import (
	"math"
	"strconv"
)

// Model is a forecasting method with its settings. Fit estimates the method's
// parameters on training data once; the State it returns then takes each new
// observation without refitting, as a live loop or a rolling backtest needs.
type Model interface {
	Name() string
	// MinPoints is the shortest training series Fit accepts.
	MinPoints() int
	Fit(train []float64) (State, error)
}

// State is a fitted model positioned just after the last observation it has seen.
type State interface {
	// Observe moves the state one step on. A value that is not finite is taken as
	// missing: the state advances on its own one-step forecast instead.
	Observe(y float64)
	// Forecast returns the next h values, 1 to h steps ahead; every value is finite.
	Forecast(h int) []float64
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// sanitize replaces any non-finite forecast by fallback, so a numerically
// broken fit degrades to a naive forecast instead of leaking NaN into a decision.
func sanitize(f []float64, fallback float64) []float64 {
	if !finite(fallback) {
		fallback = 0
	}
	for i, v := range f {
		if !finite(v) {
			f[i] = fallback
		}
	}
	return f
}

// LastValue forecasts the last observation for every step ahead.
type LastValue struct{}

func (LastValue) Name() string   { return "last-value" }
func (LastValue) MinPoints() int { return 1 }

func (m LastValue) Fit(train []float64) (State, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, err
	}
	return &lastValueState{last: train[len(train)-1]}, nil
}

type lastValueState struct{ last float64 }

func (s *lastValueState) Observe(y float64) {
	if finite(y) {
		s.last = y
	}
}

func (s *lastValueState) Forecast(h int) []float64 {
	f := make([]float64, h)
	for i := range f {
		f[i] = s.last
	}
	return f
}

// SeasonalNaive forecasts the value one season earlier: Period is the season in
// steps (288 for a daily season of 5-minute data, 2016 for a weekly one); Label
// names the season in Name ("daily"), which otherwise shows the period.
type SeasonalNaive struct {
	Period int
	Label  string
}

func (m SeasonalNaive) Name() string {
	if m.Label != "" {
		return "seasonal-naive-" + m.Label
	}
	return "seasonal-naive-" + strconv.Itoa(m.Period)
}
func (m SeasonalNaive) MinPoints() int { return max(1, m.Period) }

func (m SeasonalNaive) Fit(train []float64) (State, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, err
	}
	p := max(1, m.Period)
	ring := make([]float64, p)
	copy(ring, train[len(train)-p:])
	return &seasonalNaiveState{ring: ring}, nil
}

// seasonalNaiveState keeps the last season in a ring; next is the slot of the
// value one season before the next step.
type seasonalNaiveState struct {
	ring []float64
	next int
}

func (s *seasonalNaiveState) Observe(y float64) {
	if finite(y) {
		s.ring[s.next] = y
	} // a missing value keeps last season's: that is this model's forecast of it
	s.next = (s.next + 1) % len(s.ring)
}

func (s *seasonalNaiveState) Forecast(h int) []float64 {
	f := make([]float64, h)
	for i := range f {
		f[i] = s.ring[(s.next+i)%len(s.ring)]
	}
	return f
}
