package workflows

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/forecast"
	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/internal/searchattr"
)

// ScaleRecordQuery answers with the tick's ScaleTick record as it stands.
const ScaleRecordQuery = "record"

// Tick outcomes, also the InfraflowScaleOutcome search attribute.
const (
	ScaleApplied        = "applied"
	ScaleAlreadyApplied = "already-applied"
	ScaleConflict       = "conflict"
	ScaleUnchanged      = "unchanged"
	ScaleForecastOnly   = "forecast-only"
	ScaleHeld           = "held"
	ScaleRejected       = "rejected"
)

// How much of the loop's own forecast-vs-actual history a tick keeps, and how
// many checks make a recent accuracy (fewer: the backtest's accuracy is used).
const (
	scaleHistoryLimit  = 60
	scalePendingLimit  = 240
	scaleMinChecks     = 5
	scaleModelReactive = "reactive"
)

// ScaleForecast is the forecast a tick decided on.
type ScaleForecast struct {
	Model string      `json:"model"`
	At    []time.Time `json:"at"`
	Point []float64   `json:"point"`
	Lower []float64   `json:"lower"`
	Upper []float64   `json:"upper"`
}

// ScaleTick is the record of one tick: what it saw, forecast, decided and did.
type ScaleTick struct {
	At     time.Time `json:"at"`
	Target string    `json:"target"`
	Mode   string    `json:"mode"`
	// Observed is the replica count the tick read (and compares-and-sets on).
	Observed int `json:"observed"`
	// Demand is the latest actual demand sample, at DemandAt; absent when the
	// metrics could not be read.
	Demand   *float64  `json:"demand,omitempty"`
	DemandAt time.Time `json:"demandAt,omitzero"`
	Missing  int       `json:"missing"`
	Samples  int       `json:"samples"`
	// MetricsProblem says why the metrics were unusable (Prometheus down, an
	// empty range).
	MetricsProblem string `json:"metricsProblem,omitempty"`
	// Forecast and its interval; ForecastProblem says why there is none.
	Forecast        *ScaleForecast `json:"forecast,omitempty"`
	ForecastProblem string         `json:"forecastProblem,omitempty"`
	// Checks are earlier ticks' forecasts next to the actuals now known.
	Checks []scaleop.ForecastCheck `json:"checks,omitempty"`
	// RecentAccuracy is 1 − WAPE of recent forecasts; AccuracySource says of
	// which: "loop" (this loop's forecasts against actuals) or "backtest" (the
	// chosen model on this window, while the loop has too few checks).
	RecentAccuracy *float64 `json:"recentAccuracy,omitempty"`
	AccuracySource string   `json:"accuracySource,omitempty"`
	// Model used for the decision ("reactive" when none).
	Model    string           `json:"model"`
	Decision scaling.Decision `json:"decision"`
	Approval *ApprovalStatus  `json:"approval,omitempty"`
	Apply    *scaleop.Result  `json:"apply,omitempty"`
	// Outcome is applied, already-applied, conflict, unchanged, forecast-only,
	// held or rejected; Replicas the count the target has after the tick.
	Outcome  string `json:"outcome"`
	Replicas int    `json:"replicas"`
	Reason   string `json:"reason"`
	// Provision is the ProvisionStack run that applied a pulumi-config
	// target's new count.
	Provision string `json:"provision,omitempty"`
}

// ForecastScaleResult is the tick's record plus the little state the next
// tick of the same Schedule needs (it reads it as the last completion result):
// when the target last changed, recent recommendations for scale-down
// stabilisation, forecasts awaiting their actuals, and checked forecasts for
// the recent accuracy.
type ForecastScaleResult struct {
	Tick        ScaleTick                `json:"tick"`
	LastScaleAt time.Time                `json:"lastScaleAt,omitzero"`
	Recent      []scaling.Recommendation `json:"recent,omitempty"`
	Pending     []scaleop.ForecastPoint  `json:"pending,omitempty"`
	History     []scaleop.ForecastCheck  `json:"history,omitempty"`
}

// ForecastScale is one tick of a forecast-and-scale loop: observe the target's
// replicas, fetch recent demand, forecast it, decide with the policy's
// guardrails, get approval for a big step, apply as a compare-and-set on the
// observed count, and record it all. A Temporal Schedule runs it every interval.
func ForecastScale(ctx workflow.Context, in ForecastScaleInput) (ForecastScaleResult, error) {
	label := in.Target.Label()
	var prev ForecastScaleResult
	if workflow.HasLastCompletionResult(ctx) {
		if err := workflow.GetLastCompletionResult(ctx, &prev); err != nil || prev.Tick.Target != label {
			prev = ForecastScaleResult{} // another loop's state, or unreadable: start afresh
		}
	}
	now := workflow.Now(ctx)
	res := ForecastScaleResult{LastScaleAt: prev.LastScaleAt, Recent: prev.Recent, Pending: prev.Pending, History: prev.History}
	tick := &res.Tick
	*tick = ScaleTick{At: now, Target: label, Mode: in.mode(), Model: scaleModelReactive}
	progress := Progress{Phase: "observing the target", Total: 5}
	if err := trackProgress(ctx, &progress); err != nil {
		return res, err
	}
	if err := workflow.SetQueryHandler(ctx, ScaleRecordQuery, func() (ScaleTick, error) { return *tick, nil }); err != nil {
		return res, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, searchattr.ScaleTarget.ValueSet(label)); err != nil {
		return res, err
	}

	quick := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})

	// 1. Observe: the count every later step compares against.
	observed, err := activityref.ReadReplicas.Run(quick, in.Target)
	if err != nil {
		return res, fmt.Errorf("reading the replicas of %s: %w", label, err)
	}
	tick.Observed, tick.Replicas = observed.Replicas, observed.Replicas
	progress.Done, progress.Phase = 1, "fetching metrics"

	// 2. Demand. Prometheus down or an empty range: record why and hold.
	step := in.step()
	window, err := activityref.FetchMetrics.Run(quick, scaleop.MetricsQuery{
		Prometheus: in.Metrics.Prometheus, Query: in.Metrics.Query, End: now.Truncate(step), Window: in.window(), Step: step,
	})
	if err != nil {
		tick.MetricsProblem = rootMessage(err)
		return finishTick(ctx, in, &res, &progress, observed, scaling.Decision{Replicas: tick.Observed, Previous: tick.Observed, Mode: scaling.ModeHold,
			Recommended: tick.Observed, Reason: fmt.Sprintf("holding %d replicas: the metrics could not be read: %s", tick.Observed, tick.MetricsProblem)})
	}
	demand := window.Floats()
	tick.Samples, tick.Missing = len(demand), window.Missing
	if n := len(demand); n > 0 && !math.IsNaN(demand[n-1]) {
		latest := demand[n-1]
		tick.Demand, tick.DemandAt = &latest, window.End()
	}
	progress.Done, progress.Phase = 2, "forecasting"

	// 3. Forecast (CPU work on data: an activity, its answer in history).
	policy := in.policy()
	var fc *scaling.Forecast
	if in.mode() != ScaleModeReactive {
		lead := forecast.StepsCovering(policy.StartupLead, step)
		slow := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 2 * time.Minute,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2},
		})
		df, err := activityref.ForecastDemand.Run(slow, scaleop.ForecastInput{
			Window: window, Horizon: lead, Season: in.season(), Coverage: in.coverage(), Pending: prev.Pending,
		})
		switch {
		case err != nil:
			tick.ForecastProblem = rootMessage(err)
		case df.Problem != "":
			tick.ForecastProblem = df.Problem
		}
		if err == nil {
			tick.Checks = df.Checks
			res.Pending = df.StillPending
			res.History = lastN(append(res.History, df.Checks...), scaleHistoryLimit)
		}
		if err == nil && df.Problem == "" {
			tick.Forecast = &ScaleForecast{Model: df.Model, At: df.At, Point: df.Point, Lower: df.Lower, Upper: df.Upper}
			acc, source := recentAccuracy(res.History, df.BacktestAccuracy)
			tick.RecentAccuracy, tick.AccuracySource = acc, source
			fc = &scaling.Forecast{Model: df.Model, Point: df.Point, Upper: df.Upper, RecentAccuracy: math.NaN()}
			if acc != nil {
				fc.RecentAccuracy = *acc
			}
			k := min(lead, len(df.Point)) - 1
			res.Pending = lastN(append(res.Pending, scaleop.ForecastPoint{At: df.At[k], Value: df.Point[k], Model: df.Model}), scalePendingLimit)
		}
	}
	progress.Done, progress.Phase = 3, "deciding"

	// 4. Decide: scaling.Decide is pure and deterministic (no clock, no I/O, no
	// map order), so it runs here and replays identically.
	decision, err := scaling.Decide(policy, scaling.Input{
		Now: now, Step: step, Demand: demand, Forecast: fc, CurrentReplicas: tick.Observed,
		LastScaleAt: res.LastScaleAt, Recent: res.Recent,
	})
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("deciding: "+err.Error(), ErrTypeInvalidInput, err)
	}
	if tick.ForecastProblem != "" && decision.Mode == scaling.ModeReactive {
		decision.Reason += "; no forecast: " + tick.ForecastProblem
	}
	if decision.Mode != scaling.ModeHold {
		res.Recent = append(res.Recent, scaling.Recommendation{At: now, Replicas: decision.Recommended})
	}
	res.Recent = within(res.Recent, now, policy.ScaleDownStabilization)
	return finishTick(ctx, in, &res, &progress, observed, decision)
}

// finishTick gets approval when needed, applies, records and upserts the
// search attributes.
func finishTick(ctx workflow.Context, in ForecastScaleInput, res *ForecastScaleResult, progress *Progress, observed scaleop.ObservedReplicas, d scaling.Decision) (ForecastScaleResult, error) {
	tick := &res.Tick
	tick.Decision, tick.Reason = d, d.Reason
	if d.Model != "" {
		tick.Model = d.Model
	}
	switch {
	case d.Mode == scaling.ModeHold:
		tick.Outcome = ScaleHeld
	case in.mode() == ScaleModeForecastOnly:
		tick.Outcome = ScaleForecastOnly
	case !d.Apply:
		tick.Outcome = ScaleUnchanged
	}
	progress.Done, progress.Phase = 4, "applying"
	if tick.Outcome == "" && d.NeedsApproval {
		progress.Phase = "waiting for approval"
		title := fmt.Sprintf("scale %s from %d to %d replicas", tick.Target, tick.Observed, d.Replicas)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "-approval",
		})
		var status ApprovalStatus
		if err := workflow.ExecuteChildWorkflow(cctx, Approval, in.approvalInput(title, d.Reason)).Get(ctx, &status); err != nil {
			return *res, fmt.Errorf("approval of %q: %w", title, err)
		}
		tick.Approval = &status
		if status.Status != ApprovalApproved {
			tick.Outcome = ScaleRejected
			tick.Reason += fmt.Sprintf("; approval %s (%s): not applied", status.Status, status.Reason)
		}
	}
	if tick.Outcome == "" && in.Target.Kind == scaleop.PulumiConfigKind {
		if err := applyStackSetting(ctx, in, res, observed.Config, d.Replicas); err != nil {
			return *res, err
		}
	}
	if tick.Outcome == "" {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
		})
		r, err := activityref.ApplyReplicas.Run(actx, scaleop.ApplyReplicasInput{
			Target: in.Target, Expected: tick.Observed, Desired: d.Replicas,
		})
		if err != nil {
			return *res, fmt.Errorf("applying %d replicas to %s: %w", d.Replicas, tick.Target, err)
		}
		tick.Apply, tick.Replicas = &r, r.Current
		switch r.Outcome {
		case scaleop.Applied:
			tick.Outcome = ScaleApplied
			res.LastScaleAt = tick.At
		case scaleop.AlreadyApplied:
			tick.Outcome = ScaleAlreadyApplied
			res.LastScaleAt = tick.At
			tick.Reason += fmt.Sprintf("; the target already had %d replicas: nothing applied twice", r.Current)
		default:
			tick.Outcome = ScaleConflict
			tick.Reason += fmt.Sprintf("; conflict: the target has %d replicas, not the %d this tick observed; not applied, the next tick decides again", r.Current, r.Expected)
		}
	}
	progress.Done, progress.Phase = 5, "done: "+tick.Outcome
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.ScaleReplicas.ValueSet(int64(d.Replicas)),
		searchattr.ScaleModel.ValueSet(tick.Model),
		searchattr.ScaleOutcome.ValueSet(tick.Outcome)); err != nil {
		return *res, err
	}
	workflow.GetLogger(ctx).Info("Scale tick", "target", tick.Target, "outcome", tick.Outcome, "observed", tick.Observed, "decided", d.Replicas, "model", tick.Model)
	return *res, nil
}

// recentAccuracy is 1 − WAPE of the loop's checked forecasts, or the
// backtest's accuracy while there are too few of them.
func recentAccuracy(history []scaleop.ForecastCheck, backtest *float64) (*float64, string) {
	if len(history) >= scaleMinChecks {
		e, s := 0.0, 0.0
		for _, c := range history {
			e += math.Abs(c.Actual - c.Forecast)
			s += math.Abs(c.Actual)
		}
		if s > 0 {
			acc := 1 - e/s
			return &acc, "loop"
		}
	}
	if backtest != nil {
		acc := *backtest
		return &acc, "backtest"
	}
	return nil, ""
}

// within keeps the recommendations of the stabilisation window.
func within(recent []scaling.Recommendation, now time.Time, window time.Duration) []scaling.Recommendation {
	var out []scaling.Recommendation
	for _, r := range recent {
		if window > 0 && !r.At.Before(now.Add(-window)) {
			out = append(out, r)
		}
	}
	return out
}

func lastN[T any](s []T, n int) []T {
	if len(s) > n {
		return append([]T(nil), s[len(s)-n:]...)
	}
	return s
}

// rootMessage is an activity failure's own message, without the wrapping.
func rootMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}
