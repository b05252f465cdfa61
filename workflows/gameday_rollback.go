package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/stackop"
)

// rollBack undoes every fault whose injection began, newest first (for one
// with no undo of its own, that removes its record), then runs the spec's
// explicit rollbacks.
func (g *gameDayRun) rollBack(ctx workflow.Context) error {
	g.progress.Phase = "rolling back"
	from := g.methodEnd
	if from.IsZero() {
		from = workflow.Now(ctx) // cancelled or failed mid-method
	}
	for i := len(g.attempted) - 1; i >= 0; i-- {
		if g.attempted[i] && g.result.Faults[i].UndoneAt.IsZero() {
			if err := g.undo(ctx, i); err != nil {
				return err
			}
		}
	}
	for _, r := range g.spec.Rollbacks {
		if g.anyAttempted() {
			g.result.Rollbacks = append(g.result.Rollbacks, g.runAction(ctx, r.Action))
		}
	}
	if g.anyAttempted() {
		g.result.RolledBackAt = workflow.Now(ctx)
		g.result.TimeToRollBack = since(from, g.result.RolledBackAt)
	}
	return nil
}

func (g *gameDayRun) anyAttempted() bool {
	for _, a := range g.attempted {
		if a {
			return true
		}
	}
	return false
}

// recover probes until the steady state is back or the recovery bound has
// passed; then it runs the remediation and waits one bound more. If the
// system still does not hold, people are needed (the report says so in chat).
func (g *gameDayRun) recover(ctx workflow.Context) error {
	g.progress.Phase = "waiting for the steady state"
	back, err := g.waitSteady(ctx)
	if err != nil || back {
		return err
	}
	g.progress.Phase = "remediating"
	for _, a := range g.spec.Remediation {
		g.result.Remediation = append(g.result.Remediation, g.runAction(ctx, a))
	}
	g.progress.Phase = "waiting for the steady state after remediation"
	if back, err = g.waitSteady(ctx); err != nil {
		return err
	}
	g.result.PeopleNeeded = !back
	return nil
}

// waitSteady probes at the interval for one recovery bound.
func (g *gameDayRun) waitSteady(ctx workflow.Context) (bool, error) {
	deadline := workflow.Now(ctx).Add(g.spec.RecoveryTimeout.Value())
	for {
		round, err := g.probe(ctx, "recovery")
		if err != nil {
			return false, err
		}
		if round.OK {
			g.result.RecoveredAt = workflow.Now(ctx)
			g.result.TimeToRecover = since(g.result.RolledBackAt, g.result.RecoveredAt)
			return true, nil
		}
		if !workflow.Now(ctx).Before(deadline) {
			return false, nil
		}
		if err := workflow.Sleep(ctx, min(g.spec.ProbeInterval.Value(), deadline.Sub(workflow.Now(ctx)))); err != nil {
			return false, err
		}
	}
}

// runAction runs a rollback or remediation action and records how it went;
// a failed action is reported, not fatal: the others still run.
func (g *gameDayRun) runAction(ctx workflow.Context, a gameday.Action) GameDayAction {
	rec := GameDayAction{Name: a.Name, Kind: a.Kind, Status: "done"}
	fail := func(err error) GameDayAction {
		rec.Status, rec.Detail = "failed", err.Error()
		return rec
	}
	info := workflow.GetInfo(ctx)
	quick := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	signature := &RequesterSignature{System: "GameDay"}
	switch a.Kind {
	case gameday.ActionNotify:
		if err := activityref.NotifyChat.Run(quick, gameday.Notice{WorkflowID: info.WorkflowExecution.ID, Title: g.spec.Title, Text: a.Message}); err != nil {
			return fail(err)
		}
		rec.Detail = "posted: " + a.Message
	case gameday.ActionProvisionStack:
		ref := stackop.Ref{Program: a.Program, Stack: a.Stack}
		config, err := activityref.LastGoodConfig.Run(quick, ref)
		if err != nil {
			return fail(fmt.Errorf("reading the last good configuration of %s: %w", ref, err))
		}
		child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        ProvisionWorkflowID(a.Program, a.Stack),
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		var res ProvisionResult
		if err := workflow.ExecuteChildWorkflow(child, ProvisionStack, ProvisionInput{
			Program: a.Program, Stack: a.Stack, Config: config, Requester: "gameday", RequesterSignature: signature,
		}).Get(ctx, &res); err != nil {
			return fail(err)
		}
		rec.Detail = fmt.Sprintf("%s: %s", ProvisionWorkflowID(a.Program, a.Stack), res.Status)
	case gameday.ActionConfigureHosts:
		var in ConfigureInput
		if err := json.Unmarshal(a.Input, &in); err != nil {
			return fail(fmt.Errorf("the configure-hosts input: %w", err))
		}
		if in.Requester == "" {
			in.Requester, in.RequesterSignature = "gameday", signature
		}
		child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: info.WorkflowExecution.ID + "-" + a.Name})
		var res ConfigureResult
		if err := workflow.ExecuteChildWorkflow(child, ConfigureHosts, in).Get(ctx, &res); err != nil {
			return fail(err)
		}
		rec.Detail = fmt.Sprintf("%s: %s", info.WorkflowExecution.ID+"-"+a.Name, res.Status)
	default:
		return fail(fmt.Errorf("unknown action kind %q", a.Kind))
	}
	return rec
}
