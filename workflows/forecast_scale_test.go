package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/internal/searchattr"
)

var tickStart = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// seasonal is demand with a 30-step season: it needs between 3 and 12
// replicas of 1000 at 70% utilisation.
func seasonal(t int) float64 { return 5000 + 3000*math.Sin(2*math.Pi*float64(t)/30) }

func scaleInput(mode string) ForecastScaleInput {
	return ForecastScaleInput{
		Metrics: ScaleMetrics{Query: "sum(infraflow_trace_demand)", Step: "1s", Window: "3m", Season: "30s"},
		Target:  scaleop.ScaleTargetRef{Kind: "deployment", Name: "web"},
		Policy:  ScalePolicy{MinReplicas: 1, MaxReplicas: 20, TargetUtilization: 0.7, CapacityPerReplica: 1000, StartupLead: "3s"},
		Mode:    mode,
	}
}

// fakeTarget is a replica count with the activity's compare-and-set rule.
type fakeTarget struct {
	replicas int
	applies  int
	// changeBeforeApply simulates someone else scaling between observe and apply.
	changeBeforeApply int
}

type scaleEnv struct {
	*testsuite.TestWorkflowEnvironment
	target *fakeTarget
	sas    map[string]any
	// stackConfig is a pulumi-config target's stack configuration.
	stackConfig map[string]any
}

// newScaleEnv mocks the target and Prometheus; the forecast is the real
// activity (pure CPU work). demand(t) gives the sample t steps into the window.
func newScaleEnv(t *testing.T, replicas int, demand func(i, n int) *float64) *scaleEnv {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := &scaleEnv{TestWorkflowEnvironment: testEnv(&suite), target: &fakeTarget{replicas: replicas}, sas: map[string]any{}}
	env.SetStartTime(tickStart)
	env.SetTestTimeout(time.Minute)
	Register(env)
	activities.Register(env.TestWorkflowEnvironment, &activities.Activities{})
	onActivity(env.TestWorkflowEnvironment, activityref.ReadReplicas, func(_ context.Context, ref scaleop.ScaleTargetRef) (scaleop.ObservedReplicas, error) {
		return scaleop.ObservedReplicas{Target: ref.Label(), Replicas: env.target.replicas, Config: env.stackConfig}, nil
	})
	if demand != nil {
		onActivity(env.TestWorkflowEnvironment, activityref.FetchMetrics, func(_ context.Context, q scaleop.MetricsQuery) (scaleop.MetricsWindow, error) {
			n := int(q.Window/q.Step) + 1
			w := scaleop.MetricsWindow{Start: q.End.Add(-q.Window), Step: q.Step, Values: make([]*float64, n)}
			for i := range n {
				w.Values[i] = demand(i, n)
				if w.Values[i] == nil {
					w.Missing++
				}
			}
			return w, nil
		})
	}
	onActivity(env.TestWorkflowEnvironment, activityref.ApplyReplicas, func(_ context.Context, in scaleop.ApplyReplicasInput) (scaleop.Result, error) {
		ft := env.target
		ft.applies++
		if ft.changeBeforeApply > 0 {
			ft.replicas = ft.changeBeforeApply
		}
		r := scaleop.Result{Expected: in.Expected, Desired: in.Desired, Current: ft.replicas}
		switch ft.replicas {
		case in.Desired:
			r.Outcome = scaleop.AlreadyApplied
		case in.Expected:
			r.Outcome, ft.replicas, r.Current = scaleop.Applied, in.Desired, in.Desired
		default:
			r.Outcome = scaleop.Conflict
		}
		return r, nil
	})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		for k, v := range sa.GetUntypedValues() {
			env.sas[k.GetName()] = v
		}
	}).Return(nil)
	return env
}

func value(v float64) *float64 { return &v }

func seasonalDemand(i, n int) *float64 { return value(seasonal(i)) }

func runTick(t *testing.T, env *scaleEnv, in ForecastScaleInput) ForecastScaleResult {
	t.Helper()
	env.ExecuteWorkflow("ForecastScale", in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("ForecastScale failed: %v", err)
	}
	var res ForecastScaleResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestForecastScaleAppliesTheForecastAndRecordsIt(t *testing.T) {
	env := newScaleEnv(t, 2, seasonalDemand)
	res := runTick(t, env, scaleInput(""))
	tick := res.Tick
	if tick.Outcome != ScaleApplied || env.target.applies != 1 || env.target.replicas != tick.Decision.Replicas || tick.Replicas != tick.Decision.Replicas {
		t.Fatalf("outcome %s, %d applies, target %d, decided %d: want one apply of the decision", tick.Outcome, env.target.applies, env.target.replicas, tick.Decision.Replicas)
	}
	if tick.Decision.Mode != scaling.ModePredictive || tick.Forecast == nil || tick.Model == scaleModelReactive || tick.Model != tick.Forecast.Model {
		t.Fatalf("decision %+v model %q forecast %+v: want a predictive decision naming its model", tick.Decision, tick.Model, tick.Forecast)
	}
	f := tick.Forecast
	if len(f.Point) != 3 || len(f.Lower) != 3 || len(f.Upper) != 3 || len(f.At) != 3 {
		t.Fatalf("forecast %+v: want 3 steps (startup lead 3s at 1s) with intervals", f)
	}
	// The window ends at the tick (t=180, a multiple of the season): the next
	// steps are seasonal(181..183), which a 30-step seasonal series gives exactly.
	for k := range f.Point {
		want := seasonal(181 + k)
		if math.Abs(f.Point[k]-want) > 0.02*want || f.Lower[k] > f.Point[k] || f.Upper[k] < f.Point[k] {
			t.Errorf("step %d: forecast %.1f [%.1f, %.1f], want about %.1f inside its interval", k+1, f.Point[k], f.Lower[k], f.Upper[k], want)
		}
	}
	// 3 steps ahead the seasonal peak nears: ceil(max(upper)/700) or more.
	if tick.Decision.Replicas <= 2 {
		t.Errorf("decided %d, want more than the 2 observed for rising demand", tick.Decision.Replicas)
	}
	if tick.Demand == nil || *tick.Demand != seasonal(180) || tick.RecentAccuracy == nil || tick.AccuracySource != "backtest" {
		t.Errorf("demand %v accuracy %v (%s): want the latest sample and the backtest accuracy", tick.Demand, tick.RecentAccuracy, tick.AccuracySource)
	}
	if len(res.Pending) != 1 || !res.Pending[0].At.Equal(f.At[2]) {
		t.Errorf("pending %+v: want the lead-step forecast kept for the next tick", res.Pending)
	}
	if env.sas[searchattr.ScaleOutcome.GetName()] != ScaleApplied || env.sas[searchattr.ScaleReplicas.GetName()] != int64(tick.Decision.Replicas) ||
		env.sas[searchattr.ScaleModel.GetName()] != tick.Model || env.sas[searchattr.ScaleTarget.GetName()] != "kubernetes/default/deployment/web" {
		t.Errorf("search attributes %v: want outcome, replicas, model and target", env.sas)
	}
	queried := query[ScaleTick](t, env.TestWorkflowEnvironment, ScaleRecordQuery)
	if queried.Outcome != ScaleApplied || queried.Decision.Replicas != tick.Decision.Replicas {
		t.Errorf("record query %+v, want the result's tick", queried)
	}
}

func TestForecastScaleForecastOnlyNeverApplies(t *testing.T) {
	env := newScaleEnv(t, 2, seasonalDemand)
	tick := runTick(t, env, scaleInput(ScaleModeForecastOnly)).Tick
	if env.target.applies != 0 || env.target.replicas != 2 {
		t.Fatalf("%d applies, target at %d: forecast-only must never apply", env.target.applies, env.target.replicas)
	}
	if tick.Outcome != ScaleForecastOnly || tick.Decision.Replicas <= 2 || tick.Replicas != 2 || !strings.Contains(tick.Reason, "forecast-only") {
		t.Errorf("tick %+v: want the decision recorded (more than 2) and the target left at 2", tick)
	}
	// The same decision as the applying mode makes.
	applied := runTick(t, newScaleEnv(t, 2, seasonalDemand), scaleInput("")).Tick
	if applied.Decision.Replicas != tick.Decision.Replicas {
		t.Errorf("forecast-only decided %d, apply mode %d: want the same decision", tick.Decision.Replicas, applied.Decision.Replicas)
	}
}

func TestForecastScaleFallsBackToReactiveWhenRecentAccuracyIsPoor(t *testing.T) {
	env := newScaleEnv(t, 2, seasonalDemand)
	in := scaleInput("")
	in.Policy.MinAccuracy = 0.8
	// Earlier ticks of this loop forecast twice what happened: accuracy 0.
	var prev ForecastScaleResult
	prev.Tick.Target = in.Target.Label()
	for i := range 10 {
		prev.History = append(prev.History, scaleop.ForecastCheck{At: tickStart.Add(time.Duration(i-20) * time.Second), Forecast: 10000, Actual: 5000})
	}
	env.SetLastCompletionResult(prev)
	tick := runTick(t, env, in).Tick
	if tick.Decision.Mode != scaling.ModeReactive || tick.AccuracySource != "loop" || tick.RecentAccuracy == nil || *tick.RecentAccuracy > 0.1 {
		t.Fatalf("decision %+v accuracy %v (%s): want reactive on the loop's poor accuracy", tick.Decision, tick.RecentAccuracy, tick.AccuracySource)
	}
	if !strings.Contains(tick.Reason, "recent accuracy") || tick.Model != scaleModelReactive {
		t.Errorf("reason %q model %q: want the fallback explained and the model reactive", tick.Reason, tick.Model)
	}
	// Reactive: ceil(demand now / (1000 × 0.7)).
	if want := int(math.Ceil(seasonal(180) / 700)); tick.Decision.Replicas != want {
		t.Errorf("reactive decision %d, want %d", tick.Decision.Replicas, want)
	}
}

func TestForecastScaleBigStepGoesThroughApproval(t *testing.T) {
	for _, status := range []string{ApprovalApproved, ApprovalRejected} {
		t.Run(status, func(t *testing.T) {
			env := newScaleEnv(t, 1, seasonalDemand)
			in := scaleInput("")
			in.Policy.ApprovalStep = 2
			in.Approval = &ScaleApproval{Requester: "forecast-loop", Groups: []string{"sre"}}
			var asked ApprovalInput
			env.OnWorkflow(Approval, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req ApprovalInput) (ApprovalStatus, error) {
				asked = req
				return ApprovalStatus{Status: status, Reason: "checked"}, nil
			})
			tick := runTick(t, env, in).Tick
			if !tick.Decision.NeedsApproval || tick.Approval == nil || tick.Approval.Status != status {
				t.Fatalf("decision %+v approval %+v: want approval asked", tick.Decision, tick.Approval)
			}
			if !strings.Contains(asked.Title, "from 1 to") || asked.Expiry != "15m" || asked.Groups[0] != "sre" {
				t.Errorf("approval request %+v: want the step in the title, the 15m default expiry and the groups", asked)
			}
			// No person signs a Schedule's tick: it asks on its own behalf.
			if asked.RequesterSignature == nil || asked.RequesterSignature.System != "ForecastScale" || asked.Requester != "forecast-loop" {
				t.Errorf("approval requester %q signature %+v: want the tick asking as the ForecastScale system", asked.Requester, asked.RequesterSignature)
			}
			switch status {
			case ApprovalApproved:
				if tick.Outcome != ScaleApplied || env.target.applies != 1 {
					t.Errorf("approved: outcome %s, %d applies; want applied once", tick.Outcome, env.target.applies)
				}
			default:
				if tick.Outcome != ScaleRejected || env.target.applies != 0 || env.target.replicas != 1 {
					t.Errorf("rejected: outcome %s, %d applies; want nothing applied", tick.Outcome, env.target.applies)
				}
			}
		})
	}
}

func TestForecastScaleCompareAndSet(t *testing.T) {
	t.Run("someone else scaled meanwhile", func(t *testing.T) {
		env := newScaleEnv(t, 2, seasonalDemand)
		env.target.changeBeforeApply = 7
		tick := runTick(t, env, scaleInput("")).Tick
		if tick.Outcome != ScaleConflict || env.target.replicas != 7 || tick.Replicas != 7 || !strings.Contains(tick.Reason, "conflict") {
			t.Errorf("tick %+v, target %d: want the conflict recorded and the other change kept", tick, env.target.replicas)
		}
	})
	t.Run("a duplicate tick finds it applied", func(t *testing.T) {
		env := newScaleEnv(t, 2, seasonalDemand)
		first := runTick(t, env, scaleInput("")).Tick
		// The duplicate observed the same count before the first applied.
		env2 := newScaleEnv(t, 2, seasonalDemand)
		env2.target.changeBeforeApply = first.Decision.Replicas
		dup := runTick(t, env2, scaleInput("")).Tick
		if dup.Outcome != ScaleAlreadyApplied || dup.Decision.Replicas != first.Decision.Replicas || env2.target.replicas != first.Decision.Replicas {
			t.Errorf("duplicate tick %+v: want already-applied, no second change", dup)
		}
	})
}

func TestForecastScaleHoldsOnGarbageMetrics(t *testing.T) {
	cases := map[string]struct {
		demand func(i, n int) *float64
		fetch  error
		reason string
	}{
		"NaN latest": {demand: func(i, n int) *float64 {
			if i == n-1 {
				return nil
			}
			return value(seasonal(i))
		}, reason: "latest demand sample is NaN"},
		"gaps": {demand: func(i, n int) *float64 {
			if i%3 == 0 && i != n-1 {
				return nil
			}
			return value(seasonal(i))
		}, reason: "recent demand samples are missing"},
		"empty range": {demand: func(i, n int) *float64 { return nil }, reason: "holding 4 replicas"},
		"x100 spike": {demand: func(i, n int) *float64 {
			v := seasonal(i)
			if i == n-1 {
				v *= 100
			}
			return &v
		}, reason: "more like a broken metric"},
		"Prometheus down": {fetch: temporal.NewApplicationError("querying Prometheus at http://127.0.0.1:1: connection refused", "", nil), reason: "the metrics could not be read: querying Prometheus"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env := newScaleEnv(t, 4, c.demand)
			if c.demand == nil {
				onActivity(env.TestWorkflowEnvironment, activityref.FetchMetrics, func(context.Context, scaleop.MetricsQuery) (scaleop.MetricsWindow, error) {
					return scaleop.MetricsWindow{}, c.fetch
				})
			}
			tick := runTick(t, env, scaleInput("")).Tick
			if tick.Outcome != ScaleHeld || tick.Decision.Mode != scaling.ModeHold || tick.Decision.Replicas != 4 || env.target.applies != 0 {
				t.Fatalf("tick %+v, %d applies: want 4 replicas held and nothing applied", tick, env.target.applies)
			}
			if !strings.Contains(tick.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", tick.Reason, c.reason)
			}
		})
	}
}

func TestForecastScaleCarriesStateToTheNextTick(t *testing.T) {
	env := newScaleEnv(t, 2, seasonalDemand)
	in := scaleInput("")
	in.Policy.ScaleDownStabilization = "1m"
	first := runTick(t, env, in)
	// The next tick, 5 s later, gets the first's result as its last completion.
	env2 := newScaleEnv(t, env.target.replicas, func(i, n int) *float64 { return value(seasonal(i + 5)) })
	env2.SetStartTime(tickStart.Add(5 * time.Second))
	env2.SetLastCompletionResult(first)
	// Forecast-only, so this tick changes nothing and LastScaleAt must be the
	// first tick's.
	in.Mode = ScaleModeForecastOnly
	second := runTick(t, env2, in)
	if !second.LastScaleAt.Equal(tickStart) || len(second.Recent) != 2 {
		t.Errorf("second tick: lastScaleAt %s, %d recent recommendations; want the first tick's apply time and both recommendations", second.LastScaleAt, len(second.Recent))
	}
	if len(second.Tick.Checks) != 1 || second.Tick.Checks[0].Forecast != first.Pending[0].Value {
		t.Fatalf("checks %+v: want the first tick's lead-step forecast checked against its actual", second.Tick.Checks)
	}
	c := second.Tick.Checks[0]
	if math.Abs(c.Actual-c.Forecast) > 0.02*c.Actual {
		t.Errorf("check %+v: the seasonal forecast should be close to the actual", c)
	}
}

func TestForecastScaleInvalidInputNamesTheField(t *testing.T) {
	good, _ := json.Marshal(scaleInput(""))
	mutate := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	sub := func(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }
	cases := map[string]string{
		mutate(func(m map[string]any) { delete(sub(m, "metrics"), "query") }):                        `field "metrics.query": is required`,
		mutate(func(m map[string]any) { sub(m, "metrics")["step"] = "fast" }):                        `field "metrics.step"`,
		mutate(func(m map[string]any) { sub(m, "metrics")["window"] = "24h" }):                       `field "metrics.window": covers 86401 steps`,
		mutate(func(m map[string]any) { sub(m, "metrics")["prometheus"] = "file:///etc" }):           `field "metrics.prometheus"`,
		mutate(func(m map[string]any) { sub(m, "target")["kind"] = "pod" }):                          `field "target.kind": unknown kind "pod"`,
		mutate(func(m map[string]any) { sub(m, "target")["name"] = "Web_1" }):                        `field "target.name"`,
		mutate(func(m map[string]any) { sub(m, "policy")["minReplicas"] = 0 }):                       `field "policy.minReplicas": is 0`,
		mutate(func(m map[string]any) { sub(m, "policy")["maxReplicas"] = 0 }):                       `field "policy.maxReplicas"`,
		mutate(func(m map[string]any) { sub(m, "policy")["targetUtilization"] = 1.5 }):               `field "policy.targetUtilization"`,
		mutate(func(m map[string]any) { sub(m, "policy")["capacityPerReplica"] = 0 }):                `field "policy.capacityPerReplica"`,
		mutate(func(m map[string]any) { sub(m, "policy")["cooldown"] = "soon" }):                     `field "policy.cooldown"`,
		mutate(func(m map[string]any) { sub(m, "policy")["approvalStep"] = 3 }):                      `field "approval": policy.approvalStep is set but no one may approve`,
		mutate(func(m map[string]any) { m["mode"] = "yolo" }):                                        `field "mode": unknown mode "yolo"`,
		mutate(func(m map[string]any) { m["targets"] = 1 }):                                          `field "targets": is not a known field`,
		mutate(func(m map[string]any) { m["approval"] = map[string]any{"groups": []string{"sre"}} }): `field "approval.requester": is required`,
	}
	for input, want := range cases {
		var suite testsuite.WorkflowTestSuite
		env := testEnv(&suite)
		Register(env)
		activities.Register(env, &activities.Activities{})
		env.ExecuteWorkflow("ForecastScale", json.RawMessage(input))
		var appErr *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &appErr) {
			t.Fatalf("input %s: workflow error = %v, want an application error", input, err)
		}
		if appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), want) {
			t.Errorf("input %s: %s (type %s, non-retryable %v), want non-retryable InvalidInput containing %q", input, appErr.Error(), appErr.Type(), appErr.NonRetryable(), want)
		}
	}
}
