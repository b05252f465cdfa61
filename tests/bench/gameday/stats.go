package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// summary is what the report gives for one measured time over the runs.
type summary struct {
	Runs int     `json:"runs"`
	P50S float64 `json:"p50Seconds"`
	MaxS float64 `json:"maxSeconds"`
}

// summarize takes the p50 by nearest rank: with a handful of runs, it is a
// time one run really took, not a mean of two.
func summarize(seconds []float64) summary {
	if len(seconds) == 0 {
		return summary{}
	}
	sorted := slices.Clone(seconds)
	slices.Sort(sorted)
	return summary{Runs: len(sorted), P50S: percentile(sorted, 50), MaxS: sorted[len(sorted)-1]}
}

// percentile is the nearest-rank percentile of sorted values: the smallest
// value with at least p% of the values at or below it.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// killPlan is when one kill-sweep run SIGKILLs the worker (after the game
// day's approval) and how long the worker stays down.
type killPlan struct {
	At           time.Duration `json:"killAfterApproval"`
	RestartAfter time.Duration `json:"restartAfter"`
}

// chooseKills draws each run's kill moment uniformly in [0, window) and its
// down time uniformly in [minDown, maxDown]. The same seed gives the same
// plans, so a sweep that found a problem can be run again as it was.
func chooseKills(seed int64, runs int, window, minDown, maxDown time.Duration) []killPlan {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	plans := make([]killPlan, runs)
	for i := range plans {
		plans[i] = killPlan{
			At:           time.Duration(r.Int64N(int64(window))),
			RestartAfter: minDown + time.Duration(r.Int64N(int64(maxDown-minDown)+1)),
		}
	}
	return plans
}
