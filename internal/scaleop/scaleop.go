// Package scaleop describes a forecast-and-scale tick's work as workflows and
// activities exchange it: the metrics query and window, the forecast and its
// checks, the scale target and the compare-and-set that scales it. It does no
// I/O; the activities query Prometheus and internal/scaletarget scales.
package scaleop

import (
	"fmt"
	"math"
	"time"
)

// Error types of the forecast-and-scale activities.
const (
	ErrTypeScaleTargetNotFound = "ScaleTargetNotFound"
	ErrTypeScaleNotAllowed     = "ScaleNotAllowed"
)

// MetricsQuery asks for the recent demand of one series.
type MetricsQuery struct {
	// Prometheus is the server's base URL; empty means the worker's default.
	Prometheus string `json:"prometheus,omitempty"`
	Query      string `json:"query"`
	// End is the tick's time; the window is [End-Window, End] every Step.
	End    time.Time     `json:"end"`
	Window time.Duration `json:"window"`
	Step   time.Duration `json:"step"`
}

// MetricsWindow is demand on a regular grid: Values[i] at Start + i*Step, null
// where Prometheus had no sample (JSON cannot carry NaN).
type MetricsWindow struct {
	Start   time.Time     `json:"start"`
	Step    time.Duration `json:"step"`
	Values  []*float64    `json:"values"`
	Missing int           `json:"missing"`
	Series  string        `json:"series,omitempty"`
	// Before counts the steps of the asked range before the series' first
	// sample, left out of the window.
	Before int `json:"before,omitempty"`
}

// Floats returns the values with NaN for missing samples.
func (w MetricsWindow) Floats() []float64 {
	out := make([]float64, len(w.Values))
	for i, v := range w.Values {
		if v == nil {
			out[i] = math.NaN()
		} else {
			out[i] = *v
		}
	}
	return out
}

// End is the time of the latest sample.
func (w MetricsWindow) End() time.Time {
	return w.Start.Add(time.Duration(max(0, len(w.Values)-1)) * w.Step)
}

// ForecastPoint is a forecast for one future time, kept until its actual arrives.
type ForecastPoint struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	Model string    `json:"model"`
}

// ForecastCheck is a forecast next to what happened.
type ForecastCheck struct {
	At       time.Time `json:"at"`
	Forecast float64   `json:"forecast"`
	Actual   float64   `json:"actual"`
	Model    string    `json:"model"`
}

// ForecastInput asks for a forecast of the next Horizon steps after the window.
type ForecastInput struct {
	Window  MetricsWindow `json:"window"`
	Horizon int           `json:"horizon"`
	// Season is the daily season's length in the window's time (24h for live
	// data; shorter for a trace replayed in accelerated time).
	Season time.Duration `json:"season"`
	// Coverage of the central prediction interval, e.g. 0.8.
	Coverage float64 `json:"coverage"`
	// Pending are earlier ticks' forecasts whose actuals may now be known.
	Pending []ForecastPoint `json:"pending,omitempty"`
}

// DemandForecast is the forecast with its interval, the model the backtest
// chose and its backtest accuracy, and the earlier forecasts now checked.
type DemandForecast struct {
	// Problem, when set, says why there is no forecast (too few samples, a
	// missing latest sample); the rest is empty and the tick decides reactively.
	Problem string      `json:"problem,omitempty"`
	Model   string      `json:"model,omitempty"`
	At      []time.Time `json:"at,omitempty"`
	Point   []float64   `json:"point,omitempty"`
	Lower   []float64   `json:"lower,omitempty"`
	Upper   []float64   `json:"upper,omitempty"`
	// BacktestAccuracy is 1 − WAPE of the chosen model on the window's
	// validation part; null when the backtest had nothing to measure.
	BacktestAccuracy *float64 `json:"backtestAccuracy,omitempty"`
	// Filled counts missing samples interpolated before fitting.
	Filled int `json:"filled"`
	// Checks pairs earlier forecasts with the actuals this window holds;
	// StillPending are those whose time has not come yet.
	Checks       []ForecastCheck `json:"checks,omitempty"`
	StillPending []ForecastPoint `json:"stillPending,omitempty"`
}

// ScaleTargetRef names a scalable thing; names only, no credentials.
type ScaleTargetRef struct {
	// Kind is deployment, statefulset (Kubernetes), aws-asg (an AWS Auto
	// Scaling group's desired capacity) or pulumi-config (an integer setting
	// of a Pulumi stack, applied by a ProvisionStack run).
	Kind string `json:"kind"`
	// Namespace of a Kubernetes object; default "default".
	Namespace string `json:"namespace,omitempty"`
	// Name of the Deployment, StatefulSet or Auto Scaling group.
	Name string `json:"name,omitempty"`
	// Program, Stack and Key name a pulumi-config target: the stack's
	// setting Key (e.g. "replicas").
	Program string `json:"program,omitempty"`
	Stack   string `json:"stack,omitempty"`
	Key     string `json:"key,omitempty"`
}

// PulumiConfigKind is the kind of a Pulumi stack setting target.
const PulumiConfigKind = "pulumi-config"

// Label is the target's name in records and search attributes.
func (r ScaleTargetRef) Label() string {
	if r.Kind == "aws-asg" {
		return "aws-asg/" + r.Name
	}
	if r.Kind == PulumiConfigKind {
		return fmt.Sprintf("pulumi/%s/%s/%s", r.Program, r.Stack, r.Key)
	}
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("kubernetes/%s/%s/%s", ns, r.Kind, r.Name)
}

// ObservedReplicas is the target's replica count as a tick found it.
type ObservedReplicas struct {
	Target   string `json:"target"`
	Replicas int    `json:"replicas"`
	// Config is a pulumi-config target's stack configuration as last
	// applied: the tick's ProvisionStack changes Key in it, nothing else.
	Config map[string]any `json:"config,omitempty"`
}

// ApplyReplicasInput sets Desired replicas if the target still has Expected,
// the count the tick observed.
type ApplyReplicasInput struct {
	Target   ScaleTargetRef `json:"target"`
	Expected int            `json:"expected"`
	Desired  int            `json:"desired"`
}

// Outcome of a compare-and-set.
type Outcome string

const (
	// Applied: the count was the expected one and is now the desired one.
	Applied Outcome = "applied"
	// AlreadyApplied: the count already is the desired one (a retry of a tick
	// whose apply went through, or a duplicate tick); nothing was changed.
	AlreadyApplied Outcome = "already-applied"
	// Conflict: someone else changed the count since the tick observed it;
	// nothing was changed, the next tick decides again from the new count.
	Conflict Outcome = "conflict"
)

// Result says what a compare-and-set did; Current is the count afterwards.
type Result struct {
	Outcome  Outcome `json:"outcome"`
	Expected int     `json:"expected"`
	Desired  int     `json:"desired"`
	Current  int     `json:"current"`
}
