package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
)

// ttlEnv runs ProvisionStack's logic with the SDK's time-skipping suite; the
// Pulumi activities answer as a successful new stack would (the real engine
// runs in the end-to-end tests, where TTLs are short).
func ttlEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *[]string) {
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: ProvisionWorkflowID("local", "eph")})
	Register(env)
	var operations []string
	activities.Register(env, &activities.Activities{})
	onActivity(env, activityref.PreviewStack, func(context.Context, stackop.StackRequest) (stackop.PreviewResult, error) {
		return stackop.PreviewResult{
			Plan: stackop.Plan{Changes: []stackop.Change{{Op: "create", Type: "infraflow:kubernetes:Namespace", Name: "eph"}}, Summary: map[string]int{"create": 1}},
		}, nil
	})
	onActivity(env, activityref.CheckPolicy, func(context.Context, stackop.PolicyInput) (stackop.PolicyDecision, error) {
		return stackop.PolicyDecision{Outcome: stackop.PolicyAllow}, nil
	})
	onActivity(env, activityref.VerifyStack, func(context.Context, stackop.StackRequest) (stackop.Verification, error) {
		return stackop.Verification{InSync: true, Resources: 1}, nil
	})
	onActivity2(env, activityref.ApplyStack, func(_ context.Context, req stackop.StackRequest, _ int) (stackop.ApplyResult, error) {
		operations = append(operations, req.Operation)
		return stackop.ApplyResult{Resources: 1}, nil
	})
	return env, &operations
}

var ephemeral = ProvisionInput{Program: "local", Stack: "eph", TTL: "24h", Config: map[string]any{"image": "nginx:1.27"}}

func TestLongTTLDestroysWhenItRunsOut(t *testing.T) {
	env, ops := ttlEnv(t)
	start := env.Now()
	env.ExecuteWorkflow("ProvisionStack", ephemeral)
	var res ProvisionResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ProvisionExpired || len(*ops) != 2 || (*ops)[1] != stackop.OpDestroy {
		t.Errorf("result %+v, operations %v; want up then destroy", res, *ops)
	}
	if elapsed := env.Now().Sub(start); elapsed < 24*time.Hour || elapsed > 25*time.Hour {
		t.Errorf("destroyed after %v of skipped time, want 24h", elapsed)
	}
}

func TestTTLCanBeExtendedAndCancelled(t *testing.T) {
	env, ops := ttlEnv(t)
	start := env.Now()
	var extendedTo time.Time
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(ExtendTTLUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("extend rejected: %v", err) },
			OnComplete: func(r any, err error) { extendedTo, _ = r.(time.Time) },
		}, "48h")
	}, 23*time.Hour)
	env.ExecuteWorkflow("ProvisionStack", ephemeral)
	var res ProvisionResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if elapsed := env.Now().Sub(start); elapsed < 72*time.Hour || extendedTo.Sub(start) < 72*time.Hour {
		t.Errorf("destroyed after %v (extended to %v after start), want 72h", elapsed, extendedTo.Sub(start))
	}
	if res.Status != ProvisionExpired || len(*ops) != 2 || (*ops)[1] != stackop.OpDestroy {
		t.Errorf("result %+v, operations %v; want up then destroy when the extended TTL ran out", res, *ops)
	}

	env, ops = ttlEnv(t)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(CancelTTLUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("cancel rejected: %v", err) }, OnComplete: func(any, error) {},
		})
	}, 2*time.Hour)
	env.ExecuteWorkflow("ProvisionStack", ephemeral)
	var kept ProvisionResult
	if err := env.GetWorkflowResult(&kept); err != nil {
		t.Fatal(err)
	}
	if kept.Status != ProvisionSucceeded || kept.ExpiresAt != nil || len(*ops) != 1 {
		t.Errorf("cancelled TTL: %+v, operations %v; want the stack kept", kept, *ops)
	}
}
