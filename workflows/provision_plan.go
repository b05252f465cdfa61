package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
)

// savedPlansChange marks the ProvisionStack runs that apply exactly what was
// approved (version 1): an up is constrained to the update plan its preview
// saved, and after an approval the stack is previewed again; when it changed,
// the policies decide again and people approve the new changes. Older runs
// applied whatever the program said at apply time, and replay so.
const savedPlansChange = "saved-plans"

// policyAtApplyChange marks the runs (version 1) whose policies decide again
// before an approved plan is applied, even when the plan is unchanged: a
// release may tighten the policies while people take hours to decide, and a
// plan the new policies deny is not applied on the old approval. Older runs
// applied an unchanged plan without asking them, and replay so.
const policyAtApplyChange = "policy-at-apply"

// ProvisionPlanRefused is the outcome of an apply whose saved plan was
// missing or changed after approval: nothing was applied.
const ProvisionPlanRefused = "plan-refused"

// StalePlan records a plan that was no longer what would happen when it was
// to be applied: the stack changed after its preview (drift, another
// operation, a new program or policy). Current is what a new preview planned,
// and Approval the decision on it, when people were asked.
type StalePlan struct {
	Approved stackop.Plan    `json:"approved"`
	Current  stackop.Plan    `json:"current"`
	Approval *ApprovalStatus `json:"approval,omitempty"`
}

// Text shows both diffs, for the people asked to approve the new plan.
func (p StalePlan) Text() string {
	return "The stack changed after the plan was approved; that plan is not applied.\n\n" +
		"Approved before (no longer what would happen):\n" + p.Approved.Text() +
		"\n\nWhat would happen now:\n" + p.Current.Text()
}

// planApproved is what may be applied: the preview whose changes were
// approved (or allowed by the policies), and its saved plan.
type planApproved struct {
	preview stackop.PreviewResult
	// byPeople says whether people approved it, rather than the policies
	// alone: a changed plan then needs people again.
	byPeople bool
	// current is the plan saved by the latest check that found the stack's
	// changes among the approved ones: it holds approved steps only, and is
	// applied after the engine stopped at a step the approved plan lacked.
	current *stackop.SavedPlan
}

// recheck previews the stack again before an apply that waited (for people,
// or after the engine stopped at a step the plan lacked). When the changes it
// would make now are among those approved, the policies are asked again (a
// release may have changed them meanwhile) and the approved plan is applied
// unless they now deny it or want people who were not asked. Otherwise the
// policies decide on the new plan and, when people approved the old one or
// the policies ask for it, people approve the new one, shown beside the old. ok is false when the new plan was denied or rejected; the
// result says so.
func (s *provisionState) recheck(ctx workflow.Context, in ProvisionInput, req stackop.StackRequest, approved planApproved) (planApproved, bool, error) {
	for round := 1; ; round++ {
		s.progress = Progress{Phase: "checking the approved plan"}
		fresh, err := previewStack(ctx, savingPlan(req))
		if err != nil {
			return approved, false, err
		}
		if stackop.WithinPlan(approved.preview.Plan, fresh.Plan) {
			approved.current = fresh.SavedPlan
			if workflow.GetVersion(ctx, policyAtApplyChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				return approved, true, nil
			}
			return s.recheckPolicy(ctx, in, approved, fresh, round)
		}
		stale := StalePlan{Approved: approved.preview.Plan, Current: fresh.Plan}
		workflow.GetLogger(ctx).Warn("The approved plan is stale", "stack", s.result.Stack, "approved", stale.Approved.Summary, "now", stale.Current.Summary)
		s.result.Plan = fresh.Plan
		if err := s.checkPolicy(ctx, in, fresh.Plan); err != nil {
			return approved, false, err
		}
		if s.result.Policy.Outcome == stackop.PolicyDeny {
			s.result.StalePlans = append(s.result.StalePlans, stale)
			s.result.Status = ProvisionDenied
			s.result.Reason = "the stack changed after the plan was approved, and the new plan is denied by policy: " + strings.Join(s.result.Policy.Deny, "; ") + "; nothing was changed"
			return approved, false, nil
		}
		if !approved.byPeople && s.result.Policy.Outcome != stackop.PolicyRequireApproval {
			s.result.StalePlans = append(s.result.StalePlans, stale)
			return planApproved{preview: fresh, current: fresh.SavedPlan}, true, nil
		}
		s.progress.Phase = "waiting for approval of the changed plan"
		reasons := append([]string{"the stack changed after the plan was approved"}, s.result.Policy.RequireApproval...)
		decision, err := askApprovalAs(ctx, approvalID(ctx)+fmt.Sprintf("-stale-%d", round),
			fmt.Sprintf("%s %s (changed since approval)", in.operation(), s.result.Stack), reasons, stale.Text()+planDigestLine(fresh), in.Approval, in.Requester, in.RequesterSignature)
		if err != nil {
			return approved, false, err
		}
		stale.Approval = &decision
		s.result.StalePlans = append(s.result.StalePlans, stale)
		s.result.Approval = &decision
		if decision.Status != ApprovalApproved {
			s.rejected(decision, "the stack changed after the plan was approved; the new plan was ")
			return approved, false, nil
		}
		// That approval may have taken hours too.
		approved = planApproved{preview: fresh, byPeople: true}
	}
}

// recheckPolicy asks the policies (perhaps a new release's) about an
// approved plan that is still what would happen. A plan they now deny is not
// applied; one they now send to people is applied only after people approve
// it, when nobody had.
func (s *provisionState) recheckPolicy(ctx workflow.Context, in ProvisionInput, approved planApproved, fresh stackop.PreviewResult, round int) (planApproved, bool, error) {
	if err := s.checkPolicy(ctx, in, fresh.Plan); err != nil {
		return approved, false, err
	}
	switch {
	case s.result.Policy.Outcome == stackop.PolicyDeny:
		s.result.Status = ProvisionDenied
		s.result.Reason = "the approved plan is unchanged, but the policies now deny it: " + strings.Join(s.result.Policy.Deny, "; ") + "; nothing was changed"
		return approved, false, nil
	case s.result.Policy.Outcome != stackop.PolicyRequireApproval || approved.byPeople:
		return approved, true, nil
	}
	s.progress.Phase = "waiting for approval required by the policies"
	decision, err := askApprovalAs(ctx, approvalID(ctx)+fmt.Sprintf("-policy-%d", round),
		fmt.Sprintf("%s %s", in.operation(), s.result.Stack), s.result.Policy.RequireApproval, fresh.Plan.Text()+planDigestLine(fresh),
		in.Approval, in.Requester, in.RequesterSignature)
	if err != nil {
		return approved, false, err
	}
	s.result.Approval = &decision
	if decision.Status != ApprovalApproved {
		s.rejected(decision, "approval ")
		return approved, false, nil
	}
	return planApproved{preview: fresh, byPeople: true, current: fresh.SavedPlan}, true, nil
}

// rejected ends the run on a decision other than approval: nothing was
// changed. what leads the reason ("approval rejected by ...").
func (s *provisionState) rejected(d ApprovalStatus, what string) {
	s.result.Status = ProvisionRejected
	s.result.Reason = fmt.Sprintf("%s%s by %s: %s; nothing was changed", what, d.Status, d.ClosedBy, d.Reason)
}

// checkPolicy records what the policies say about a plan.
func (s *provisionState) checkPolicy(ctx workflow.Context, in ProvisionInput, plan stackop.Plan) error {
	s.progress.Phase = "policy"
	var err error
	s.result.Policy, err = activityref.CheckPolicy.Run(safeToRetry(ctx, time.Minute), stackop.PolicyInput{
		Program: in.Program, Stack: in.Stack, Operation: in.operation(), Changes: plan.Changes,
	})
	return err
}

// savingPlan asks the preview of an up to save its update plan.
func savingPlan(req stackop.StackRequest) stackop.StackRequest {
	req.SavePlan = req.Operation == stackop.OpUp
	return req
}

// planDigestLine names the saved plan in an approval request: what people
// approve is that file, and only it is applied.
func planDigestLine(p stackop.PreviewResult) string {
	if p.SavedPlan == nil {
		return ""
	}
	return "\n\nSaved plan: " + p.SavedPlan.Digest
}

// applyApproved applies the approved plan. When the engine stops at a step
// the plan lacks (the stack changed in the meantime), only planned steps ran:
// the stack is checked again, and the new changes need the policies' and
// people's consent as before.
func (s *provisionState) applyApproved(ctx workflow.Context, in ProvisionInput, req stackop.StackRequest, approved planApproved) (stackop.ApplyResult, planApproved, bool, error) {
	apply := req
	apply.Plan = approved.preview.SavedPlan
	for stops := 1; ; stops++ {
		s.progress = Progress{Phase: in.operation(), Total: countChanges(approved.preview.Plan)}
		applied, err := applyStack(ctx, apply, s)
		var appErr *temporal.ApplicationError
		// A stack that keeps changing under the engine is a failed apply.
		if !errors.As(err, &appErr) || appErr.Type() != stackop.ErrTypePlanStale || stops == maxPlanStops {
			if apply.Plan != nil {
				s.result.AppliedPlan = apply.Plan.Digest
			}
			return applied, approved, true, err
		}
		workflow.GetLogger(ctx).Warn("The engine stopped at a step outside the approved plan", "stack", s.result.Stack, "error", appErr.Message())
		var ok bool
		if approved, ok, err = s.recheck(ctx, in, req, approved); err != nil || !ok {
			return applied, approved, ok, err
		}
		apply.Plan = approved.current
	}
}

// maxPlanStops bounds the applies an engine stops because the stack changed
// under them.
const maxPlanStops = 3

func isPlanRefused(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == stackop.ErrTypePlanRefused
}

// planFailure ends a run that failed before anything was applied. A refused
// plan file (missing, or changed after it was saved) is reported as such.
func (s *provisionState) planFailure(in ProvisionInput, err error) (ProvisionResult, error) {
	var appErr *temporal.ApplicationError
	if !isPlanRefused(err) || !errors.As(err, &appErr) {
		return s.result, err
	}
	s.result.Status, s.result.Reason = ProvisionPlanRefused, appErr.Message()
	s.result.FinalState = "unchanged: nothing was applied"
	return s.result, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s of %s refused: %s", in.operation(), s.result.Stack, appErr.Message()),
		ErrTypeProvisionFailed, nil, s.result)
}
