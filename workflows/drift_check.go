package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/searchattr"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks"
)

// DriftCheckInput names the stack to check; a Temporal Schedule runs it.
type DriftCheckInput struct {
	Program string `json:"program"`
	Stack   string `json:"stack"`
	// Approval configures the remediation's approval (default: group sre).
	Approval *ProvisionApproval `json:"approval,omitempty"`
	// ReportOnly skips the remediation.
	ReportOnly bool `json:"reportOnly,omitempty"`
}

// Validate implements Input.
func (in DriftCheckInput) Validate() error {
	if _, ok := stacks.Lookup(in.Program); !ok {
		return &FieldError{Field: "program", Problem: fmt.Sprintf("unknown program %q", in.Program), Fix: fmt.Sprintf("use one of: %v", stacks.Names())}
	}
	if !stackName.MatchString(in.Stack) {
		return &FieldError{Field: "stack", Problem: fmt.Sprintf("%q is not a stack name", in.Stack), Fix: "use lowercase letters, digits and dashes"}
	}
	return nil
}

// DriftCheckResult lists what drifted and the remediation started for it.
type DriftCheckResult struct {
	Stack   string           `json:"stack"`
	Drifted []stackop.Change `json:"drifted"`
	// Remediation is the ProvisionStack workflow ID that restores the declared
	// state once approved, or why none was started.
	Remediation string `json:"remediation,omitempty"`
}

// DriftCheck refreshes the stack in preview mode and, when the live
// infrastructure differs from the state, starts a ProvisionStack that puts
// back the last successfully applied configuration after an approval.
func DriftCheck(ctx workflow.Context, in DriftCheckInput) (DriftCheckResult, error) {
	res := DriftCheckResult{Stack: in.Program + "/" + in.Stack, Drifted: []stackop.Change{}}
	if err := workflow.UpsertTypedSearchAttributes(ctx, searchattr.Stack.ValueSet(res.Stack)); err != nil {
		return res, err
	}
	ctx, err := onStackSite(ctx, stackop.Ref{Program: in.Program, Stack: in.Stack})
	if err != nil {
		return res, err
	}
	preview, err := activityref.PreviewStack.Run(safeToRetry(ctx, 5*time.Minute),
		stackop.StackRequest{Program: in.Program, Stack: in.Stack, Operation: stackop.OpRefresh})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == stackop.ErrTypeNoStack {
		return res, invalidInput(&FieldError{Field: "stack", Problem: appErr.Message(), Fix: "name a stack that exists, or provision it first with ProvisionStack"})
	}
	if err != nil {
		return res, err
	}
	for _, c := range preview.Plan.Changes {
		if c.Op != stackop.ChangeSame {
			res.Drifted = append(res.Drifted, c)
		}
	}
	if len(res.Drifted) == 0 || in.ReportOnly {
		return res, nil
	}
	if preview.LastGoodConfig == nil {
		res.Remediation = "none: the stack has no successful up to restore"
		return res, nil
	}
	approval := ProvisionApproval{Always: true}
	if in.Approval != nil {
		approval = *in.Approval
		approval.Always = true
	}
	id := ProvisionWorkflowID(in.Program, in.Stack)
	child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// The remediation waits for people; this check ends now.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	future := workflow.ExecuteChildWorkflow(child, ProvisionStack, ProvisionInput{
		Program: in.Program, Stack: in.Stack, Config: preview.LastGoodConfig,
		Requester: "drift-check", Approval: &approval,
		// Restoring the last configuration that was approved and applied is
		// infraflow's own request; the approval still needs people.
		RequesterSignature: &RequesterSignature{System: "DriftCheck"},
	})
	var started workflow.Execution
	err = future.GetChildWorkflowExecution().Get(ctx, &started)
	var already *temporal.ChildWorkflowExecutionAlreadyStartedError
	switch {
	case errors.As(err, &already):
		res.Remediation = "none: " + id + " is already running an operation on this stack"
	case err != nil:
		return res, err
	default:
		res.Remediation = started.ID
	}
	workflow.GetLogger(ctx).Info("Drift found", "stack", res.Stack, "resources", len(res.Drifted), "remediation", res.Remediation)
	return res, nil
}
