// Package forecast fits short-horizon demand forecasts on a regular time grid:
// simple baselines, Holt-Winters, Fourier regression with autoregressive
// errors and a combination, chosen per series by a rolling backtest, with
// prediction intervals from the backtest's residual quantiles. It is pure
// computation (gonum, no I/O), so workflows and benchmarks can both use it.
package forecast

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Series is a regular time series: Values[i] was observed at Start + i*Step.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
	// Filled counts the points inserted by linear interpolation to close gaps.
	Filled int
}

// ErrBadInput marks input a model cannot use: empty, too short or not finite.
var ErrBadInput = errors.New("forecast: unusable input")

// Regularize puts irregular samples on the grid of their modal interval. Gaps of
// whole intervals are filled by linear interpolation (counted in Filled); samples
// off the grid are snapped to the nearest grid point, and duplicates keep the last
// value. Times must be increasing and values finite.
func Regularize(times []time.Time, values []float64) (Series, error) {
	if len(times) != len(values) {
		return Series{}, fmt.Errorf("%w: %d times but %d values", ErrBadInput, len(times), len(values))
	}
	if len(times) < 2 {
		return Series{}, fmt.Errorf("%w: %d samples, need at least 2 to find the interval", ErrBadInput, len(times))
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Series{}, fmt.Errorf("%w: value %d (%v) is not finite", ErrBadInput, i, v)
		}
		if i > 0 && !times[i].After(times[i-1]) {
			return Series{}, fmt.Errorf("%w: sample %d at %s is not after the previous one", ErrBadInput, i, times[i])
		}
	}
	step := modalInterval(times)
	start := times[0]
	last := int(math.Round(float64(times[len(times)-1].Sub(start)) / float64(step)))
	if last > 50*len(times) {
		return Series{}, fmt.Errorf("%w: samples span %d intervals of %s but there are only %d of them", ErrBadInput, last+1, step, len(times))
	}
	grid := make([]float64, last+1)
	known := make([]bool, last+1)
	for i, t := range times {
		k := int(math.Round(float64(t.Sub(start)) / float64(step)))
		grid[k], known[k] = values[i], true
	}
	filled := 0
	prev := 0
	for k := 1; k <= last; k++ {
		if !known[k] {
			continue
		}
		for j := prev + 1; j < k; j++ {
			w := float64(j-prev) / float64(k-prev)
			grid[j] = (1-w)*grid[prev] + w*grid[k]
			filled++
		}
		prev = k
	}
	return Series{Start: start, Step: step, Values: grid, Filled: filled}, nil
}

// modalInterval is the most common spacing between consecutive samples; ties go to
// the shorter interval, so a series sampled at two rates keeps the finer one.
func modalInterval(times []time.Time) time.Duration {
	counts := map[time.Duration]int{}
	for i := 1; i < len(times); i++ {
		counts[times[i].Sub(times[i-1])]++
	}
	intervals := make([]time.Duration, 0, len(counts))
	for d := range counts {
		intervals = append(intervals, d)
	}
	sort.Slice(intervals, func(a, b int) bool { return intervals[a] < intervals[b] })
	best := intervals[0]
	for _, d := range intervals {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// StepsPer is the number of whole steps in d, at least 1: the daily season of
// 5-minute data is StepsPer(24h, 5m) = 288.
func StepsPer(d, step time.Duration) int {
	if step <= 0 {
		return 1
	}
	return max(1, int(d/step))
}

// StepsCovering is the fewest steps whose span is at least d, at least 1: the
// 15-minute horizon is 3 steps of 5-minute data and 1 step of 30-minute data.
func StepsCovering(d, step time.Duration) int {
	if step <= 0 {
		return 1
	}
	return max(1, int((d+step-1)/step))
}

// checkFinite rejects series a model must not be fitted on.
func checkFinite(y []float64, minLen int) error {
	if len(y) < minLen {
		return fmt.Errorf("%w: %d points, need at least %d", ErrBadInput, len(y), minLen)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: point %d (%v) is not finite", ErrBadInput, i, v)
		}
	}
	return nil
}
