package workflows

import (
	"encoding/json"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/scaleop"
)

// applyStackSetting applies a pulumi-config target's new count as infraflow
// applies any stack change: a ProvisionStack run (child workflow) with the
// stack's last applied configuration, the one setting changed. Its preview,
// policies, approval and verification all apply; a run already going on the
// stack is a conflict, and the next tick decides again.
func applyStackSetting(ctx workflow.Context, in ForecastScaleInput, res *ForecastScaleResult, applied map[string]any, desired int) error {
	tick := &res.Tick
	t := in.Target
	// A copy through JSON: the applied configuration is JSON already, and
	// ranging over a map is not deterministic.
	var config map[string]any
	data, _ := json.Marshal(applied)
	if err := json.Unmarshal(data, &config); err != nil || config == nil {
		return fmt.Errorf("the configuration of stack %s/%s: %v", t.Program, t.Stack, err)
	}
	config[t.Key] = desired
	requester := "forecast-scale"
	if in.Approval != nil && in.Approval.Requester != "" {
		requester = in.Approval.Requester
	}
	id := ProvisionWorkflowID(t.Program, t.Stack)
	child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// A stack operation runs to its end (or its compensation) even if the
		// tick that started it is terminated.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	future := workflow.ExecuteChildWorkflow(child, ProvisionStack, ProvisionInput{
		Program: t.Program, Stack: t.Stack, Config: config, Requester: requester,
		// The Schedule asks on its own behalf; people still approve what the
		// policies send to them.
		RequesterSignature: &RequesterSignature{System: "ForecastScale"},
	})
	var started workflow.Execution
	err := future.GetChildWorkflowExecution().Get(ctx, &started)
	var busy *temporal.ChildWorkflowExecutionAlreadyStartedError
	if errors.As(err, &busy) {
		tick.Outcome = ScaleConflict
		tick.Reason += fmt.Sprintf("; conflict: %s is running another operation on the stack; not applied, the next tick decides again", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("starting %s: %w", id, err)
	}
	tick.Provision = started.ID
	var pr ProvisionResult
	if err := future.Get(ctx, &pr); err != nil {
		return fmt.Errorf("applying %d to %s through %s: %w", desired, tick.Target, id, err)
	}
	switch pr.Status {
	case ProvisionSucceeded, ProvisionNoChanges:
		tick.Outcome, tick.Replicas, res.LastScaleAt = ScaleApplied, desired, tick.At
		tick.Apply = &scaleop.Result{Outcome: scaleop.Applied, Expected: tick.Observed, Desired: desired, Current: desired}
	default:
		tick.Outcome = ScaleRejected
		tick.Reason += fmt.Sprintf("; %s %s: %s", id, pr.Status, pr.Reason)
	}
	return nil
}
