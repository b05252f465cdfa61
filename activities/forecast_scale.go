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
	"k8s.io/client-go/kubernetes"

	"github.com/infraflow/infraflow/internal/forecast"
	"github.com/infraflow/infraflow/internal/promrange"
	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaletarget"
	"github.com/infraflow/infraflow/internal/stackop"
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
	// AWSLocalMoto says AWSEndpoint is the moto server `worker --dev`
	// started: it takes any credentials, so none are needed.
	AWSLocalMoto bool
}

// FetchMetrics reads the demand window from Prometheus (query_range). An empty
// range or an unreachable Prometheus is an error; the workflow records it and
// holds the replicas.
func (a *Activities) FetchMetrics(ctx context.Context, in scaleop.MetricsQuery) (scaleop.MetricsWindow, error) {
	base, err := a.prometheusURL(in.Prometheus)
	if err != nil {
		return scaleop.MetricsWindow{}, err
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	g, err := promrange.Fetch(ctx, hc, base, promrange.Query{Expr: in.Query, Start: in.End.Add(-in.Window), End: in.End, Step: in.Step})
	if err != nil {
		return scaleop.MetricsWindow{}, err
	}
	// Steps before the series' first sample are not gaps: the series did not
	// exist yet (a new deployment, a Prometheus just started). The window
	// starts at the first sample; Missing counts the gaps after it.
	first := slices.IndexFunc(g.Values, func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) })
	if first < 0 {
		return scaleop.MetricsWindow{}, fmt.Errorf("%w: every step of the range is missing", promrange.ErrNoData)
	}
	w := scaleop.MetricsWindow{Start: g.Start.Add(time.Duration(first) * g.Step), Step: g.Step, Values: make([]*float64, len(g.Values)-first),
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
		return "", temporal.NewNonRetryableApplicationError("this worker has no Prometheus configured (worker --prometheus-url)", scaleop.ErrTypeScaleNotAllowed, nil)
	}
	if asked == "" {
		return allowed[0], nil
	}
	norm := func(u string) string { return strings.TrimRight(u, "/") }
	if !slices.ContainsFunc(allowed, func(u string) bool { return norm(u) == norm(asked) }) {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("Prometheus %q is not one this worker may query (allowed: %s)", asked, strings.Join(allowed, ", ")), scaleop.ErrTypeScaleNotAllowed, nil)
	}
	return asked, nil
}

// ForecastDemand fits and chooses a model by rolling backtest on the window
// (forecast.Auto) and forecasts the next Horizon steps with intervals. It is
// CPU work on data, so it runs here and its answer is recorded in history.
func (a *Activities) ForecastDemand(_ context.Context, in scaleop.ForecastInput) (scaleop.DemandForecast, error) {
	y := in.Window.Floats()
	out := scaleop.DemandForecast{}
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
func checkForecasts(w scaleop.MetricsWindow, y []float64, pending []scaleop.ForecastPoint) (checks []scaleop.ForecastCheck, still []scaleop.ForecastPoint) {
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
		checks = append(checks, scaleop.ForecastCheck{At: p.At, Forecast: p.Value, Actual: y[k], Model: p.Model})
	}
	return checks, still
}

// kubernetesClient reaches the cluster that scale targets and game days act
// on: --kubeconfig, else the local stack's (the control plane of --dev). No
// cluster is an error of errType, which no retry can fix.
func (a *Activities) kubernetesClient(errType string) (kubernetes.Interface, error) {
	kubeconfig := a.Scale.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = a.Pulumi.Kubeconfig
	}
	if kubeconfig == "" {
		return nil, temporal.NewNonRetryableApplicationError("this worker has no Kubernetes cluster configured (worker --kubeconfig, or --dev with the control plane built by `make tools`)", errType, nil)
	}
	return scaletarget.KubernetesClient(kubeconfig)
}

func (a *Activities) scaleTarget(ctx context.Context, ref scaleop.ScaleTargetRef) (scaletarget.Target, error) {
	switch ref.Kind {
	case "deployment", "statefulset":
		cs, err := a.kubernetesClient(scaleop.ErrTypeScaleNotAllowed)
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
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown scale target kind %q", ref.Kind), scaleop.ErrTypeScaleNotAllowed, nil)
	}
}

func targetError(err error) error {
	var nf *scaletarget.ErrNotFound
	if errors.As(err, &nf) {
		return temporal.NewNonRetryableApplicationError(err.Error(), scaleop.ErrTypeScaleTargetNotFound, nil)
	}
	var oor *scaletarget.ErrOutOfRange
	if errors.As(err, &oor) {
		return temporal.NewNonRetryableApplicationError(err.Error(), scaleop.ErrTypeScaleNotAllowed, nil)
	}
	return err
}

// ReadReplicas reads the target's current (desired) replica count.
func (a *Activities) ReadReplicas(ctx context.Context, ref scaleop.ScaleTargetRef) (scaleop.ObservedReplicas, error) {
	if ref.Kind == scaleop.PulumiConfigKind {
		return a.readStackSetting(ctx, ref)
	}
	t, err := a.scaleTarget(ctx, ref)
	if err != nil {
		return scaleop.ObservedReplicas{}, err
	}
	n, err := t.Replicas(ctx)
	if err != nil {
		return scaleop.ObservedReplicas{}, targetError(err)
	}
	return scaleop.ObservedReplicas{Target: t.Name(), Replicas: n}, nil
}

// ApplyReplicas is a compare-and-set: it changes the count only from the one
// the tick observed, so a retry after a success (or a duplicate tick) finds the
// desired count already there and changes nothing, and a count someone else
// changed meanwhile is reported as a conflict, not overwritten.
func (a *Activities) ApplyReplicas(ctx context.Context, in scaleop.ApplyReplicasInput) (scaleop.Result, error) {
	if in.Desired < 1 || in.Expected < 0 {
		return scaleop.Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("refusing to scale to %d from %d", in.Desired, in.Expected), scaleop.ErrTypeScaleNotAllowed, nil)
	}
	t, err := a.scaleTarget(ctx, in.Target)
	if err != nil {
		return scaleop.Result{}, err
	}
	res, err := t.CompareAndSet(ctx, in.Expected, in.Desired)
	return res, targetError(err)
}

// readStackSetting reads a pulumi-config target's count from the stack's
// last successful configuration: what its last up applied.
func (a *Activities) readStackSetting(ctx context.Context, ref scaleop.ScaleTargetRef) (scaleop.ObservedReplicas, error) {
	stack := stackop.Ref{Program: ref.Program, Stack: ref.Stack}
	cfg, err := a.Pulumi.LastGoodConfig(ctx, stack)
	if err != nil {
		return scaleop.ObservedReplicas{}, err
	}
	if cfg == nil {
		return scaleop.ObservedReplicas{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stack %s has no successful up to scale: provision it first", stack), scaleop.ErrTypeScaleNotAllowed, nil)
	}
	n, ok := cfg[ref.Key].(float64)
	if !ok || n != float64(int(n)) {
		return scaleop.ObservedReplicas{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stack %s's setting %q is %v, not a whole number", stack, ref.Key, cfg[ref.Key]), scaleop.ErrTypeScaleNotAllowed, nil)
	}
	return scaleop.ObservedReplicas{Target: ref.Label(), Replicas: int(n), Config: cfg}, nil
}
