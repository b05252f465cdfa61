package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
)

// planScript plays the Pulumi activities and the Approval for
// ProvisionStack: each preview returns the next plan, each apply answers
// with the next error (nil when none is left), and each approval the next
// decision. It records what was applied and what people were shown.
type planScript struct {
	previews  []stackop.PreviewResult
	applyErrs []error
	decisions []string
	policy    string
	// policyLater, when set, is what the policies say from their second
	// check on: a release changed them while people decided.
	policyLater string

	policyChecks int

	previewed int
	applied   []stackop.StackRequest
	asked     []ApprovalInput
}

func (p *planScript) env(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: ProvisionWorkflowID("local", "web")})
	Register(env)
	activities.Register(env, &activities.Activities{})
	onActivity(env, activityref.PreviewStack, func(_ context.Context, req stackop.StackRequest) (stackop.PreviewResult, error) {
		if req.SavePlan != (req.Operation == stackop.OpUp) {
			t.Errorf("a preview of an %s: savePlan %v, want plans saved for an up only", req.Operation, req.SavePlan)
		}
		if p.previewed == len(p.previews) {
			t.Fatalf("preview %d was not expected", p.previewed+1)
		}
		p.previewed++
		return p.previews[p.previewed-1], nil
	})
	onActivity(env, activityref.CheckPolicy, func(context.Context, stackop.PolicyInput) (stackop.PolicyDecision, error) {
		p.policyChecks++
		outcome := p.policy
		if p.policyChecks > 1 && p.policyLater != "" {
			outcome = p.policyLater
		}
		switch outcome {
		case stackop.PolicyRequireApproval:
			return stackop.PolicyDecision{Outcome: outcome, RequireApproval: []string{"replicas change in production"}}, nil
		case stackop.PolicyDeny:
			return stackop.PolicyDecision{Outcome: outcome, Deny: []string{"nginx:1.27 is withdrawn"}}, nil
		}
		return stackop.PolicyDecision{Outcome: outcome}, nil
	})
	onActivity(env, activityref.VerifyStack, func(context.Context, stackop.StackRequest) (stackop.Verification, error) {
		return stackop.Verification{InSync: true, Resources: 2}, nil
	})
	onActivity2(env, activityref.ApplyStack, func(_ context.Context, req stackop.StackRequest, _ int) (stackop.ApplyResult, error) {
		p.applied = append(p.applied, req)
		if len(p.applyErrs) > 0 {
			err := p.applyErrs[0]
			p.applyErrs = p.applyErrs[1:]
			if err != nil {
				return stackop.ApplyResult{}, err
			}
		}
		return stackop.ApplyResult{Resources: 2}, nil
	})
	env.OnWorkflow("Approval", mock.Anything, mock.Anything).Return(func(_ workflow.Context, raw converter.RawValue) (ApprovalStatus, error) {
		var in ApprovalInput
		if err := converter.GetDefaultDataConverter().FromPayload(raw.Payload(), &in); err != nil {
			t.Fatal(err)
		}
		p.asked = append(p.asked, in)
		decision := p.decisions[0]
		p.decisions = p.decisions[1:]
		return ApprovalStatus{Status: decision, ClosedBy: "erin", Reason: "looked at it"}, nil
	})
	return env
}

func (p *planScript) run(t *testing.T) (ProvisionResult, error) {
	return p.runInput(t, ProvisionInput{Program: "local", Stack: "web", Requester: "dave", Config: map[string]any{"image": "nginx:1.27", "replicas": 8}})
}

func (p *planScript) runInput(t *testing.T, in ProvisionInput) (ProvisionResult, error) {
	env := p.env(t)
	env.ExecuteWorkflow(ProvisionStack, in)
	var res ProvisionResult
	err := env.GetWorkflowError()
	if err == nil {
		err = env.GetWorkflowResult(&res)
	} else {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() {
			_ = appErr.Details(&res)
		}
	}
	return res, err
}

func previewOf(digest string, changes ...stackop.Change) stackop.PreviewResult {
	return stackop.PreviewResult{Plan: stackop.NewPlan(changes), ResourcesBefore: 2, SavedPlan: &stackop.SavedPlan{Digest: digest}}
}

var (
	scaleTo8 = stackop.Change{Op: "update", Type: "kubernetes:apps/v1:Deployment", Name: "web", Diffs: []string{"replicas"},
		Old: map[string]any{"replicas": 3}, New: map[string]any{"replicas": 8}}
	serviceBack = stackop.Change{Op: "create", Type: "kubernetes:core/v1:Service", Name: "web", New: map[string]any{"port": 80}}
	imageBack   = stackop.Change{Op: "update", Type: "kubernetes:apps/v1:Deployment", Name: "web", Diffs: []string{"replicas", "image"},
		Old: map[string]any{"replicas": 3, "image": "nginx:1.26"}, New: map[string]any{"replicas": 8, "image": "nginx:1.27"}}
)

// Nothing changed while people decided: the plan they approved, named by its
// digest in the request, is the one applied.
func TestApprovedPlanIsAppliedWhenNothingChanged(t *testing.T) {
	p := &planScript{policy: stackop.PolicyRequireApproval, decisions: []string{ApprovalApproved},
		previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", scaleTo8)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	if len(p.asked) != 1 || !strings.Contains(p.asked[0].Payload, "Saved plan: sha256:aa") {
		t.Errorf("approval requests %+v, want one naming the saved plan", p.asked)
	}
	if len(p.applied) != 1 || p.applied[0].Plan == nil || p.applied[0].Plan.Digest != "sha256:aa" || res.AppliedPlan != "sha256:aa" {
		t.Errorf("applied %+v (result says %q), want the approved plan sha256:aa", p.applied, res.AppliedPlan)
	}
	if len(res.StalePlans) != 0 {
		t.Errorf("stale plans %+v, want none", res.StalePlans)
	}
}

// The stack changed while people decided (its Service deleted, its image
// changed by hand): the old approval does not cover that. People are asked
// again with both diffs, and the new plan is applied once approved.
func TestStalePlanIsApprovedAgainWithBothDiffs(t *testing.T) {
	changed := []stackop.Change{imageBack, serviceBack}
	p := &planScript{policy: stackop.PolicyRequireApproval, decisions: []string{ApprovalApproved, ApprovalApproved},
		previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", changed...), previewOf("sha256:cc", changed...)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	if len(p.asked) != 2 {
		t.Fatalf("%d approval requests, want 2", len(p.asked))
	}
	for _, want := range []string{"Approved before", "replicas: 3 -> 8", "What would happen now", "create   kubernetes:core/v1:Service web", "image: nginx:1.26 -> nginx:1.27", "Saved plan: sha256:bb"} {
		if !strings.Contains(p.asked[1].Payload, want) {
			t.Errorf("the second request lacks %q:\n%s", want, p.asked[1].Payload)
		}
	}
	if len(p.applied) != 1 || p.applied[0].Plan.Digest != "sha256:bb" {
		t.Errorf("applied %+v, want only the newly approved plan sha256:bb", p.applied)
	}
	if len(res.StalePlans) != 1 || res.StalePlans[0].Approval == nil || res.StalePlans[0].Approval.Status != ApprovalApproved ||
		len(res.StalePlans[0].Current.Changes) != 2 {
		t.Errorf("stale plans %+v, want the overtaken plan with the new one and its approval", res.StalePlans)
	}
}

// Rejecting the changed plan changes nothing.
func TestRejectedStalePlanAppliesNothing(t *testing.T) {
	p := &planScript{policy: stackop.PolicyRequireApproval, decisions: []string{ApprovalApproved, ApprovalRejected},
		previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", scaleTo8, serviceBack)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionRejected || !strings.Contains(res.Reason, "changed after the plan was approved") {
		t.Fatalf("%+v %v", res, err)
	}
	if len(p.applied) != 0 {
		t.Errorf("applied %+v after the rejection", p.applied)
	}
}

// A plan file that is missing or changed is refused by the apply: nothing is
// applied, so nothing is compensated either.
func TestRefusedPlanIsReportedWithoutCompensation(t *testing.T) {
	p := &planScript{policy: stackop.PolicyAllow,
		previews:  []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8)},
		applyErrs: []error{temporal.NewNonRetryableApplicationError("saved plan refused: plans/aa.json was changed after it was saved; nothing was applied", stackop.ErrTypePlanRefused, nil)}}
	res, err := p.run(t)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeProvisionFailed || !strings.Contains(appErr.Error(), "was changed after it was saved") {
		t.Fatalf("error %v, want %s naming the changed plan", err, ErrTypeProvisionFailed)
	}
	if res.Status != ProvisionPlanRefused || res.Compensation != "" || len(p.applied) != 1 {
		t.Errorf("result %+v after %d applies, want plan-refused with no compensation", res, len(p.applied))
	}
}

// The engine stopped at a step the plan lacked after some planned steps ran;
// the stack is checked again, and what is left (approved steps only) is
// applied from the new preview's plan.
func TestEngineStopOutsideThePlanChecksAgain(t *testing.T) {
	p := &planScript{policy: stackop.PolicyAllow,
		previews:  []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8, serviceBack), previewOf("sha256:bb", serviceBack)},
		applyErrs: []error{temporal.NewNonRetryableApplicationError("create is not allowed by the plan", stackop.ErrTypePlanStale, nil)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	if len(p.applied) != 2 || p.applied[0].Plan.Digest != "sha256:aa" || p.applied[1].Plan.Digest != "sha256:bb" || res.AppliedPlan != "sha256:bb" {
		t.Errorf("applied %+v, want the plan sha256:aa, then the rest from sha256:bb", p.applied)
	}
}

// A destroy is checked again after its approval too: Pulumi saves no plan
// for a destroy, so what is compared is the preview. A resource added while
// the approval waited is not deleted on the old approval.
func TestApprovedDestroyIsPreviewedAgain(t *testing.T) {
	deleteWeb := stackop.Change{Op: "delete", Type: "kubernetes:apps/v1:Deployment", Name: "web", Old: map[string]any{"replicas": 3}}
	deleteCache := stackop.Change{Op: "delete", Type: "kubernetes:apps/v1:Deployment", Name: "cache", Old: map[string]any{"replicas": 1}}
	destroy := ProvisionInput{Program: "local", Stack: "web", Requester: "dave", Operation: stackop.OpDestroy,
		Config: map[string]any{"image": "nginx:1.27"}, Approval: &ProvisionApproval{Always: true}}
	unchanged := &planScript{policy: stackop.PolicyAllow, decisions: []string{ApprovalApproved},
		previews: []stackop.PreviewResult{{Plan: stackop.NewPlan([]stackop.Change{deleteWeb})}, {Plan: stackop.NewPlan([]stackop.Change{deleteWeb})}}}
	res, err := unchanged.runInput(t, destroy)
	if err != nil || res.Status != ProvisionSucceeded || len(unchanged.applied) != 1 || unchanged.applied[0].Plan != nil || unchanged.previewed != 2 {
		t.Fatalf("unchanged destroy: %+v %v; %d previews, applied %+v", res, err, unchanged.previewed, unchanged.applied)
	}

	grown := &planScript{policy: stackop.PolicyAllow, decisions: []string{ApprovalApproved, ApprovalRejected},
		previews: []stackop.PreviewResult{{Plan: stackop.NewPlan([]stackop.Change{deleteWeb})}, {Plan: stackop.NewPlan([]stackop.Change{deleteWeb, deleteCache})}}}
	res, err = grown.runInput(t, destroy)
	if err != nil || res.Status != ProvisionRejected || len(grown.applied) != 0 || len(grown.asked) != 2 || !strings.Contains(grown.asked[1].Payload, "cache") {
		t.Fatalf("destroy of a stack that grew: %+v %v; applied %+v, asked %d", res, err, grown.applied, len(grown.asked))
	}
}

// A release tightened the policies while people decided, and the plan they
// approved is still what would happen: the new policies deny it, so nothing
// is applied on the old approval.
func TestUnchangedPlanDeniedByNewPoliciesAppliesNothing(t *testing.T) {
	p := &planScript{policy: stackop.PolicyRequireApproval, policyLater: stackop.PolicyDeny, decisions: []string{ApprovalApproved},
		previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", scaleTo8)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionDenied || !strings.Contains(res.Reason, "policies now deny it: nginx:1.27 is withdrawn") {
		t.Fatalf("%+v %v, want denied by the new policies", res, err)
	}
	if len(p.applied) != 0 || res.AppliedPlan != "" {
		t.Errorf("applied %+v, want nothing", p.applied)
	}
	if p.policyChecks != 2 {
		t.Errorf("policies checked %d times, want before the approval and again before the apply", p.policyChecks)
	}
}

// The plan was allowed by the policies alone; the engine then stopped at a
// step outside it, and meanwhile the policies began to want people for it:
// people are asked before the unchanged plan is applied.
func TestUnchangedPlanThatNewPoliciesSendToPeopleIsApproved(t *testing.T) {
	p := &planScript{policy: stackop.PolicyAllow, policyLater: stackop.PolicyRequireApproval, decisions: []string{ApprovalApproved},
		applyErrs: []error{temporal.NewNonRetryableApplicationError("a step outside the plan", stackop.ErrTypePlanStale, nil)},
		previews:  []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", scaleTo8)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	if len(p.asked) != 1 || !strings.Contains(p.asked[0].Payload, "Saved plan: sha256:bb") || !strings.Contains(p.asked[0].Summary, "replicas change in production") {
		t.Errorf("approval requests %+v, want one for plan sha256:bb with the policies' reason", p.asked)
	}
	if len(p.applied) != 2 || p.applied[1].Plan == nil || p.applied[1].Plan.Digest != "sha256:bb" {
		t.Errorf("applied %+v, want the stopped apply then sha256:bb", p.applied)
	}
}

// The policies still allow the approved, unchanged plan: it is applied
// without asking anyone again.
func TestUnchangedPlanStillAllowedIsAppliedWithoutAskingAgain(t *testing.T) {
	p := &planScript{policy: stackop.PolicyRequireApproval, policyLater: stackop.PolicyRequireApproval, decisions: []string{ApprovalApproved},
		previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8), previewOf("sha256:bb", scaleTo8)}}
	res, err := p.run(t)
	if err != nil || res.Status != ProvisionSucceeded || len(p.asked) != 1 || p.policyChecks != 2 {
		t.Fatalf("%+v %v; asked %d times, policies checked %d times; want applied after one approval and two checks", res, err, len(p.asked), p.policyChecks)
	}
}

// Once the stack is applied, verified and done, the progress query still
// says how many changes the apply made, as `starter --wait` and people
// asking afterwards expect, not 0 of 0.
func TestProgressKeepsTheAppliedChangesOnceDone(t *testing.T) {
	p := &planScript{policy: stackop.PolicyAllow, previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8, serviceBack)}}
	env := p.env(t)
	env.ExecuteWorkflow(ProvisionStack, ProvisionInput{Program: "local", Stack: "web", Requester: "dave", Config: map[string]any{"image": "nginx:1.27", "replicas": 8}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := query[Progress](t, env, ProgressQuery)
	if want := (Progress{Phase: "done", Done: 2, Total: 2}); got != want {
		t.Errorf("progress after the workflow completed: %+v, want %+v", got, want)
	}
}
