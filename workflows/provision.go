package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/internal/searchattr"
	"github.com/infraflow/infraflow/internal/stackop"
)

// Outcomes of ProvisionStack.
const (
	ProvisionSucceeded   = "succeeded"
	ProvisionNoChanges   = "no-changes"
	ProvisionPreviewed   = "previewed"
	ProvisionRejected    = "rejected"
	ProvisionDenied      = "denied"
	ProvisionCompensated = "failed-compensated"
	ProvisionExpired     = "destroyed-by-ttl"
)

// ErrTypeProvisionFailed is the failure type when an operation failed and
// compensation ran; the details carry the ProvisionResult.
const ErrTypeProvisionFailed = "ProvisionFailed"

// TTL Updates of an ephemeral stack.
const (
	ExtendTTLUpdate = "extendTTL"
	CancelTTLUpdate = "cancelTTL"
)

// ProvisionResult says what happened and in which state the stack is now.
type ProvisionResult struct {
	Stack     string                 `json:"stack"`
	Operation string                 `json:"operation"`
	Status    string                 `json:"status"`
	Reason    string                 `json:"reason,omitempty"`
	Plan      stackop.Plan           `json:"plan"`
	Policy    stackop.PolicyDecision `json:"policy"`
	Approval  *ApprovalStatus        `json:"approval,omitempty"`
	Outputs   map[string]any         `json:"outputs,omitempty"`
	Verified  *stackop.Verification  `json:"verified,omitempty"`
	Recovered []string               `json:"recovered,omitempty"`
	// Compensation says what was done after a failure, FinalState where the
	// stack ended up.
	Compensation string     `json:"compensation,omitempty"`
	FinalState   string     `json:"finalState,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	// Configuration is the configuration step's result, when one ran.
	Configuration *ConfigureResult `json:"configuration,omitempty"`
	// AppliedPlan is the digest of the saved plan the apply was held to.
	AppliedPlan string `json:"appliedPlan,omitempty"`
	// StalePlans lists approved plans that the stack's changes overtook
	// before they were applied, with what was decided on each new plan.
	StalePlans []StalePlan `json:"stalePlans,omitempty"`
}

// provisionState is what the workflow knows so far: its progress (queried)
// and the result it is building.
type provisionState struct {
	progress Progress
	// applied is the last apply's count of changes, which the progress
	// query keeps answering with once the workflow is done.
	applied Progress
	result  ProvisionResult
}

// done marks the workflow done, with the changes its apply made.
func (s *provisionState) done() {
	s.progress = Progress{Phase: "done", Done: s.applied.Done, Total: s.applied.Total}
}

// ProvisionStack previews, checks policy, waits for approval when a policy
// (or the request) asks for it, applies with live progress, verifies, and on
// failure compensates so the stack ends in a known, reported state.
func ProvisionStack(ctx workflow.Context, in ProvisionInput) (ProvisionResult, error) {
	want := ProvisionWorkflowID(in.Program, in.Stack)
	if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != want {
		return ProvisionResult{}, invalidInput(&FieldError{Field: "workflow ID",
			Problem: fmt.Sprintf("is %q; one stack takes one operation at a time, under the ID %q", id, want),
			Fix:     "start it with --workflow-id " + want})
	}
	s := &provisionState{result: ProvisionResult{Stack: in.Program + "/" + in.Stack, Operation: in.operation()}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return s.progress, nil }); err != nil {
		return s.result, err
	}
	engine := workflow.GetSignalChannel(ctx, stackop.EngineProgressSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p stackop.Progress
			engine.Receive(ctx, &p)
			s.progress.Done, s.progress.Total, s.progress.Current = p.Done, max(p.Total, s.progress.Total), p.Current
		}
	})
	if err := workflow.UpsertTypedSearchAttributes(ctx, searchattr.Stack.ValueSet(s.result.Stack), searchattr.Requester.ValueSet(in.Requester)); err != nil {
		return s.result, err
	}
	req := stackop.StackRequest{Program: in.Program, Stack: in.Stack, Operation: in.operation(), Config: in.Config}

	if in.Configure != nil && in.operation() == stackop.OpUp {
		// The configuration step's playbook and variables are checked now, so a
		// typo fails the request before the stack changes.
		if err := prepareConfiguration(ctx, in.configureInput(), playbook.Inventory{}); err != nil {
			return s.result, err
		}
	}
	ctx, err := onStackSite(ctx, req.Ref())
	if err != nil {
		return s.result, err
	}
	plans := workflow.GetVersion(ctx, savedPlansChange, workflow.DefaultVersion, 1) == 1
	s.progress = Progress{Phase: "preview"}
	previewReq := req
	if plans {
		previewReq = savingPlan(req)
	}
	preview, err := previewStack(ctx, previewReq)
	if err != nil {
		return s.result, err
	}
	s.result.Plan, s.result.Recovered = preview.Plan, preview.Recovered
	if in.operation() == stackop.OpPreview {
		s.result.Status = ProvisionPreviewed
		return s.result, nil
	}
	if !preview.Plan.Changing() && in.operation() != stackop.OpRefresh {
		s.result.Status = ProvisionNoChanges
		return s.finish(ctx, in, req)
	}

	approved := planApproved{preview: preview}
	if err := s.checkPolicy(ctx, in, preview.Plan); err != nil {
		return s.result, err
	}
	if s.result.Policy.Outcome == stackop.PolicyDeny {
		s.result.Status, s.result.Reason = ProvisionDenied, "denied by policy: "+strings.Join(s.result.Policy.Deny, "; ")
		return s.result, nil
	}
	if s.result.Policy.Outcome == stackop.PolicyRequireApproval || (in.Approval != nil && in.Approval.Always) {
		s.progress.Phase = "waiting for approval"
		approval, err := requestApproval(ctx, in, s.result, planDigestLine(preview))
		if err != nil {
			return s.result, err
		}
		s.result.Approval = &approval
		if approval.Status != ApprovalApproved {
			s.rejected(approval, "approval ")
			return s.result, nil
		}
		approved.byPeople = true
	}

	var applied stackop.ApplyResult
	if plans {
		// People may have taken hours: apply only what they approved.
		ok := true
		if approved.byPeople {
			if approved, ok, err = s.recheck(ctx, in, req, approved); err != nil {
				return s.planFailure(in, err)
			}
		}
		if ok {
			applied, approved, ok, err = s.applyApproved(ctx, in, req, approved)
		}
		if !ok && err == nil {
			return s.result, nil
		}
	} else {
		s.progress = Progress{Phase: in.operation(), Total: countChanges(preview.Plan)}
		applied, err = applyStack(ctx, req, s)
	}
	if isPlanRefused(err) {
		return s.planFailure(in, err)
	}
	if err != nil {
		return s.compensate(ctx, in, req, preview, err)
	}
	s.result.Outputs = applied.Outputs
	s.result.Recovered = append(s.result.Recovered, applied.Recovered...)
	s.result.Status = ProvisionSucceeded
	return s.finish(ctx, in, req)
}

// finish verifies the stack and, for an ephemeral one, waits out its TTL.
func (s *provisionState) finish(ctx workflow.Context, in ProvisionInput, req stackop.StackRequest) (ProvisionResult, error) {
	if in.Configure != nil && in.operation() == stackop.OpUp {
		if err := s.configure(ctx, in); err != nil {
			return s.result, err
		}
	}
	if in.operation() != stackop.OpDestroy {
		s.progress = Progress{Phase: "verifying"}
		v, err := activityref.VerifyStack.Run(safeToRetry(ctx, 5*time.Minute), req)
		if err != nil {
			return s.result, err
		}
		s.result.Verified = &v
		if !v.InSync {
			return s.result, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("verification failed: %d drifted resources, pending operations %v", len(v.Drift), v.Pending), ErrTypeProvisionFailed, nil, s.result)
		}
	}
	if in.TTL == "" || in.operation() != stackop.OpUp {
		s.done()
		return s.result, nil
	}
	return s.waitTTL(ctx, in, req)
}

// configure runs ConfigureHosts on the stack's hosts as a child. A failed
// configuration leaves the infrastructure up (it is not what failed) and
// fails the provisioning with both results.
func (s *provisionState) configure(ctx workflow.Context, in ProvisionInput) error {
	s.progress = Progress{Phase: "configuring hosts"}
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: ConfigureWorkflowID(in.Program, in.Stack)})
	var res ConfigureResult
	cin := in.configureInput()
	if cin.Requester == in.Requester {
		cin.RequesterSignature = in.RequesterSignature.forChild(ctx)
	}
	err := workflow.ExecuteChildWorkflow(ctx, ConfigureHosts, cin).Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeConfigurationFailed {
		_ = appErr.Details(&res)
		s.result.Configuration = &res
		s.result.FinalState = "applied; configuration failed: " + res.Reason
		return temporal.NewNonRetryableApplicationError("configuration failed: "+res.Reason, ErrTypeProvisionFailed, nil, s.result)
	}
	if err != nil {
		return err
	}
	s.result.Configuration = &res
	return nil
}

// waitTTL destroys the stack when its TTL runs out; Updates extend or cancel it.
func (s *provisionState) waitTTL(ctx workflow.Context, in ProvisionInput, req stackop.StackRequest) (ProvisionResult, error) {
	ttl, _ := parseDuration(in.TTL, 0)
	expires := workflow.Now(ctx).Add(ttl)
	cancelled := false
	s.result.ExpiresAt = &expires
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ExtendTTLUpdate, func(ctx workflow.Context, by string) (time.Time, error) {
		d, _ := parseDuration(by, 0)
		expires = expires.Add(d)
		s.result.ExpiresAt = &expires
		return expires, nil
	}, workflow.UpdateHandlerOptions{Validator: func(by string) error {
		if d, err := parseDuration(by, 0); err != nil || d <= 0 {
			return fmt.Errorf("extend by %q: want a positive duration such as \"1h\"", by)
		}
		return nil
	}}); err != nil {
		return s.result, err
	}
	if err := workflow.SetUpdateHandler(ctx, CancelTTLUpdate, func(ctx workflow.Context) (string, error) {
		cancelled = true
		return "TTL cancelled: the stack stays until destroyed by a request", nil
	}); err != nil {
		return s.result, err
	}
	// An extension moves expires later while the timer runs; the loop then
	// waits again for the rest.
	for !cancelled && workflow.Now(ctx).Before(expires) {
		s.progress = Progress{Phase: "ephemeral until " + expires.UTC().Format(time.RFC3339)}
		if _, err := workflow.AwaitWithTimeout(ctx, expires.Sub(workflow.Now(ctx)), func() bool { return cancelled }); err != nil {
			return s.result, err
		}
	}
	if cancelled {
		s.result.ExpiresAt = nil
		s.done()
		return s.result, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	s.progress = Progress{Phase: "destroying (TTL expired)", Total: 1}
	destroy := req
	destroy.Operation = stackop.OpDestroy
	if _, err := applyStack(ctx, destroy, s); err != nil {
		return s.result, err
	}
	s.result.Status, s.result.FinalState = ProvisionExpired, "destroyed when its TTL ran out"
	s.done()
	return s.result, nil
}

// compensate runs the chosen compensation after a failed apply and reports
// the final state; the workflow then fails with the result in its details.
func (s *provisionState) compensate(ctx workflow.Context, in ProvisionInput, req stackop.StackRequest, preview stackop.PreviewResult, cause error) (ProvisionResult, error) {
	mode := in.compensation()
	if mode == CompensateDestroy && preview.ResourcesBefore > 0 {
		// Never destroy a stack this run did not create.
		mode = CompensateRevert
	}
	if mode == CompensateRevert && preview.LastGoodConfig == nil {
		mode = CompensateDestroy
	}
	s.progress = Progress{Phase: "compensating: " + mode}
	// Compensation must run even if the workflow is being cancelled.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	var err error
	switch mode {
	case CompensateDestroy:
		destroy := req
		destroy.Operation = stackop.OpDestroy
		_, err = applyStack(ctx, destroy, s)
		s.result.Compensation, s.result.FinalState = "destroyed the stack this run created", "destroyed: no resources remain"
	case CompensateRevert:
		revert := req
		revert.Config = preview.LastGoodConfig
		var applied stackop.ApplyResult
		applied, err = applyStack(ctx, revert, s)
		s.result.Outputs = applied.Outputs
		s.result.Compensation = "reverted to the last successful configuration"
		s.result.FinalState = fmt.Sprintf("reverted: %d resources as of the last successful up", applied.Resources)
	default:
		var v stackop.Verification
		v, err = activityref.VerifyStack.Run(safeToRetry(ctx, 5*time.Minute), req)
		s.result.Verified = &v
		s.result.Compensation = "kept as the failed run left it"
		s.result.FinalState = fmt.Sprintf("kept: %d resources, %d differ from the state", v.Resources, len(v.Drift))
	}
	if err != nil {
		s.result.FinalState = "compensation failed: " + err.Error()
	}
	s.result.Status, s.result.Reason = ProvisionCompensated, cause.Error()
	return s.result, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s of %s failed: %v; %s; %s", in.operation(), s.result.Stack, cause, s.result.Compensation, s.result.FinalState),
		ErrTypeProvisionFailed, nil, s.result)
}

func previewStack(ctx workflow.Context, req stackop.StackRequest) (stackop.PreviewResult, error) {
	return activityref.PreviewStack.Run(safeToRetry(ctx, 5*time.Minute), req)
}

// applyStack runs the engine with heartbeats: a worker killed mid-operation is
// noticed within the heartbeat timeout and the retry recovers the stack.
func applyStack(ctx workflow.Context, req stackop.StackRequest, s *provisionState) (stackop.ApplyResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	res, err := activityref.ApplyStack.Run(ctx, req, s.progress.Total)
	if err == nil {
		s.progress.Done = s.progress.Total
		s.applied = s.progress
	}
	return res, err
}

// safeToRetry is ctx with the options of an activity that is safe to retry.
// Every activity run with them heartbeats, so a killed worker is noticed
// within the heartbeat timeout rather than the (long) start-to-close timeout.
func safeToRetry(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
}

func countChanges(p stackop.Plan) int {
	n := 0
	for _, c := range p.Changes {
		if c.Op != stackop.ChangeSame {
			n++
		}
	}
	return n
}

func requestApproval(ctx workflow.Context, in ProvisionInput, r ProvisionResult, planLine string) (ApprovalStatus, error) {
	reasons := r.Policy.RequireApproval
	if len(reasons) == 0 {
		reasons = []string{"the request asks for approval"}
	}
	return askApproval(ctx, fmt.Sprintf("%s %s", in.operation(), r.Stack), reasons, r.Plan.Text()+planLine, in.Approval, in.Requester, in.RequesterSignature)
}

// askApproval runs the Approval child workflow; without approvers or groups
// the sre group decides.
// The requester's signature goes with the request: the Approval verifies it
// before anyone is asked.
func askApproval(ctx workflow.Context, title string, reasons []string, payload string, approval *ProvisionApproval, requester string,
	signature *RequesterSignature) (ApprovalStatus, error) {
	return askApprovalAs(ctx, approvalID(ctx), title, reasons, payload, approval, requester, signature)
}

// approvalID is the workflow ID of this run's Approval.
func approvalID(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	return ApprovalWorkflowID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
}

// ApprovalWorkflowID is the workflow ID of the Approval a run asks (the
// first, for a provisioning that asks again): a client that started the run
// knows it as soon as it has the run ID, before the request is open.
func ApprovalWorkflowID(workflowID, runID string) string {
	return workflowID + "-approval-" + runID[:min(8, len(runID))]
}

// askApprovalAs is askApproval with the Approval's workflow ID.
func askApprovalAs(ctx workflow.Context, id, title string, reasons []string, payload string, approval *ProvisionApproval, requester string,
	signature *RequesterSignature) (ApprovalStatus, error) {
	settings := ProvisionApproval{}
	if approval != nil {
		settings = *approval
	}
	if len(settings.Approvers) == 0 && len(settings.Groups) == 0 {
		settings.Groups = []string{"sre"}
	}
	if requester == "" {
		requester = "unknown"
	}
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id})
	var status ApprovalStatus
	err := workflow.ExecuteChildWorkflow(ctx, Approval, ApprovalInput{
		Title:              title,
		Summary:            strings.Join(reasons, "; "),
		Payload:            payload,
		Requester:          requester,
		RequesterSignature: signature.forChild(ctx),
		Approvers:          settings.Approvers,
		Groups:             settings.Groups,
		Quorum:             settings.Quorum,
		Expiry:             settings.Expiry,
	}).Get(ctx, &status)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeInvalidInput {
		return status, invalidInput(fmt.Errorf("approval: %s", appErr.Message()))
	}
	return status, err
}
