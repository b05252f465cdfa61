package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/forecast"
	"github.com/infraflow/infraflow/internal/promrange"
	"github.com/infraflow/infraflow/internal/scaletarget"
)

// ScaleConfig is what the worker allows forecast-and-scale to reach. Workflow
// input names targets and queries; it cannot point the worker at another
// Prometheus, cluster or AWS endpoint.
type ScaleConfig struct {
	// PrometheusURLs are the Prometheus servers ticks may query; the first is
	// the default.
	PrometheusURLs []string
	// Kubeconfig of the cluster Kubernetes targets live in; empty means
	// Pulumi.Kubeconfig (the local control plane under `worker --dev`).
	Kubeconfig string
	// AWSEndpoint, when set, replaces AWS's endpoints (moto on the local
	// platform); AWSRegion defaults to us-east-1. Credentials come from the
	// worker's environment, as the AWS SDK reads them.
	AWSEndpoint string
	AWSRegion   string
}

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

// FetchMetrics reads the demand window from Prometheus (query_range). An empty
// range or an unreachable Prometheus is an error; the workflow records it and
// holds the replicas.
func (a *Activities) FetchMetrics(ctx context.Context, in MetricsQuery) (MetricsWindow, error) {
	base, err := a.prometheusURL(in.Prometheus)
	if err != nil {
		return MetricsWindow{}, err
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	g, err := promrange.Fetch(ctx, hc, base, promrange.Query{Expr: in.Query, Start: in.End.Add(-in.Window), End: in.End, Step: in.Step})
	if err != nil {
		return MetricsWindow{}, err
	}
	// Steps before the series' first sample are not gaps: the series did not
	// exist yet (a new deployment, a Prometheus just started). The window
	// starts at the first sample; Missing counts the gaps after it.
	first := slices.IndexFunc(g.Values, func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) })
	if first < 0 {
		return MetricsWindow{}, fmt.Errorf("%w: every step of the range is missing", promrange.ErrNoData)
	}
	w := MetricsWindow{Start: g.Start.Add(time.Duration(first) * g.Step), Step: g.Step, Values: make([]*float64, len(g.Values)-first),
		Missing: g.Missing - first, Series: g.Series, Before: first}
	for i, v := range g.Values[first:] {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			w.Values[i] = &v
		}
	}
	return w, nil
}

func (a *Activities) prometheusURL(asked string) (string, error) {
	allowed := a.Scale.PrometheusURLs
	if len(allowed) == 0 {
		return "", temporal.NewNonRetryableApplicationError("this worker has no Prometheus configured (worker --prometheus-url)", ErrTypeScaleNotAllowed, nil)
	}
	if asked == "" {
		return allowed[0], nil
	}
	norm := func(u string) string { return strings.TrimRight(u, "/") }
	if !slices.ContainsFunc(allowed, func(u string) bool { return norm(u) == norm(asked) }) {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("Prometheus %q is not one this worker may query (allowed: %s)", asked, strings.Join(allowed, ", ")), ErrTypeScaleNotAllowed, nil)
	}
	return asked, nil
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

// ForecastDemand fits and chooses a model by rolling backtest on the window
// (forecast.Auto) and forecasts the next Horizon steps with intervals. It is
// CPU work on data, so it runs here and its answer is recorded in history.
func (a *Activities) ForecastDemand(_ context.Context, in ForecastInput) (DemandForecast, error) {
	y := in.Window.Floats()
	out := DemandForecast{}
	out.Checks, out.StillPending = checkForecasts(in.Window, y, in.Pending)
	if len(y) == 0 {
		out.Problem = "no demand samples"
		return out, nil
	}
	if math.IsNaN(y[len(y)-1]) {
		out.Problem = "the latest demand sample is missing"
		return out, nil
	}
	train, filled := fillGaps(y)
	out.Filled = filled
	horizon := max(1, in.Horizon)
	period := forecast.StepsPer(in.Season, in.Window.Step)
	auto := forecast.Auto{Period: period, WeeklyPeriod: 7 * period, Horizon: horizon}
	if len(train) < auto.MinPoints() {
		out.Problem = fmt.Sprintf("%d usable samples, the forecaster needs %d", len(train), auto.MinPoints())
		return out, nil
	}
	fitted, err := auto.FitAuto(train)
	if err != nil {
		if errors.Is(err, forecast.ErrBadInput) {
			out.Problem = err.Error()
			return out, nil
		}
		return out, err
	}
	coverage := in.Coverage
	if coverage <= 0 || coverage >= 1 {
		coverage = 0.8
	}
	p := fitted.Predict(horizon, coverage)
	out.Model, out.Point, out.Lower, out.Upper = p.Model, p.Point, p.Lower, p.Upper
	end := in.Window.End()
	for k := range p.Point {
		out.At = append(out.At, end.Add(time.Duration(k+1)*in.Window.Step))
	}
	for _, s := range fitted.Backtest {
		if s.Model == fitted.Model && !math.IsNaN(s.WAPE) && !math.IsInf(s.WAPE, 0) {
			acc := 1 - s.WAPE
			out.BacktestAccuracy = &acc
			break
		}
	}
	return out, nil
}

// fillGaps drops leading missing samples and interpolates inner ones.
func fillGaps(y []float64) ([]float64, int) {
	first := slices.IndexFunc(y, func(v float64) bool { return !math.IsNaN(v) })
	if first < 0 {
		return nil, 0
	}
	out := slices.Clone(y[first:])
	filled, prev := 0, 0
	for k := 1; k < len(out); k++ {
		if math.IsNaN(out[k]) {
			continue
		}
		for j := prev + 1; j < k; j++ {
			w := float64(j-prev) / float64(k-prev)
			out[j] = (1-w)*out[prev] + w*out[k]
			filled++
		}
		prev = k
	}
	return out[:prev+1], filled
}

// checkForecasts pairs pending forecasts with the window's actuals.
func checkForecasts(w MetricsWindow, y []float64, pending []ForecastPoint) (checks []ForecastCheck, still []ForecastPoint) {
	end := w.End()
	for _, p := range pending {
		if p.At.After(end) || len(y) == 0 {
			still = append(still, p)
			continue
		}
		k := int(math.Round(float64(p.At.Sub(w.Start)) / float64(w.Step)))
		if k < 0 || k >= len(y) || math.IsNaN(y[k]) {
			continue // out of the window or missing: it cannot be checked
		}
		checks = append(checks, ForecastCheck{At: p.At, Forecast: p.Value, Actual: y[k], Model: p.Model})
	}
	return checks, still
}

// ScaleTargetRef names a scalable thing; names only, no credentials.
type ScaleTargetRef struct {
	// Kind is deployment, statefulset (Kubernetes) or aws-asg (an AWS Auto
	// Scaling group's desired capacity).
	Kind string `json:"kind"`
	// Namespace of a Kubernetes object; default "default".
	Namespace string `json:"namespace,omitempty"`
	// Name of the Deployment, StatefulSet or Auto Scaling group.
	Name string `json:"name"`
}

// Label is the target's name in records and search attributes.
func (r ScaleTargetRef) Label() string {
	if r.Kind == "aws-asg" {
		return "aws-asg/" + r.Name
	}
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("kubernetes/%s/%s/%s", ns, r.Kind, r.Name)
}

func (a *Activities) scaleTarget(ctx context.Context, ref ScaleTargetRef) (scaletarget.Target, error) {
	switch ref.Kind {
	case "deployment", "statefulset":
		kubeconfig := a.Scale.Kubeconfig
		if kubeconfig == "" {
			kubeconfig = a.Pulumi.Kubeconfig
		}
		if kubeconfig == "" {
			return nil, temporal.NewNonRetryableApplicationError("this worker has no Kubernetes cluster configured (worker --kubeconfig, or --dev with the control plane built by `make tools`)", ErrTypeScaleNotAllowed, nil)
		}
		cs, err := scaletarget.KubernetesClient(kubeconfig)
		if err != nil {
			return nil, err
		}
		ns := ref.Namespace
		if ns == "" {
			ns = "default"
		}
		return &scaletarget.Kubernetes{Client: cs, Kind: ref.Kind, Namespace: ns, Object: ref.Name}, nil
	case "aws-asg":
		return a.awsTarget(ctx, ref)
	default:
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown scale target kind %q", ref.Kind), ErrTypeScaleNotAllowed, nil)
	}
}

func targetError(err error) error {
	var nf *scaletarget.ErrNotFound
	if errors.As(err, &nf) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeScaleTargetNotFound, nil)
	}
	var oor *scaletarget.ErrOutOfRange
	if errors.As(err, &oor) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeScaleNotAllowed, nil)
	}
	return err
}

// ObservedReplicas is the target's replica count as a tick found it.
type ObservedReplicas struct {
	Target   string `json:"target"`
	Replicas int    `json:"replicas"`
}

// ReadReplicas reads the target's current (desired) replica count.
func (a *Activities) ReadReplicas(ctx context.Context, ref ScaleTargetRef) (ObservedReplicas, error) {
	t, err := a.scaleTarget(ctx, ref)
	if err != nil {
		return ObservedReplicas{}, err
	}
	n, err := t.Replicas(ctx)
	if err != nil {
		return ObservedReplicas{}, targetError(err)
	}
	return ObservedReplicas{Target: t.Name(), Replicas: n}, nil
}

// ApplyReplicasInput sets Desired replicas if the target still has Expected,
// the count the tick observed.
type ApplyReplicasInput struct {
	Target   ScaleTargetRef `json:"target"`
	Expected int            `json:"expected"`
	Desired  int            `json:"desired"`
}

// ApplyReplicas is a compare-and-set: it changes the count only from the one
// the tick observed, so a retry after a success (or a duplicate tick) finds the
// desired count already there and changes nothing, and a count someone else
// changed meanwhile is reported as a conflict, not overwritten.
func (a *Activities) ApplyReplicas(ctx context.Context, in ApplyReplicasInput) (scaletarget.Result, error) {
	if in.Desired < 1 || in.Expected < 0 {
		return scaletarget.Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("refusing to scale to %d from %d", in.Desired, in.Expected), ErrTypeScaleNotAllowed, nil)
	}
	t, err := a.scaleTarget(ctx, in.Target)
	if err != nil {
		return scaletarget.Result{}, err
	}
	res, err := t.CompareAndSet(ctx, in.Expected, in.Desired)
	return res, targetError(err)
}
