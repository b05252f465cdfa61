package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/workflows"
)

// provisionQueue is polled by the benchmark's no-op provisioning worker.
const provisionQueue = "bench-provision"

// startNoopProvisioner runs, inside the benchmark's process, a worker with
// infraflow's real workflows and a no-op engine: ProvisionStack's activities
// (placement, preview, policy, apply, verify) answer at once with a one-resource plan
// the policies allow, applied and in sync. Start to completion of such a
// run is what the engine adds to a provisioning — its workflow tasks,
// activity tasks, the decided-input local activity and the search attribute
// upserts — without Pulumi's own time (make bench-provision measures that).
func startNoopProvisioner(c client.Client) (worker.Worker, error) {
	w := worker.New(c, provisionQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivityWithOptions(noopPlace, activity.RegisterOptions{Name: activityref.PlaceStack.Name()})
	w.RegisterActivityWithOptions(noopPreview, activity.RegisterOptions{Name: activityref.PreviewStack.Name()})
	w.RegisterActivityWithOptions(noopPolicy, activity.RegisterOptions{Name: activityref.CheckPolicy.Name()})
	w.RegisterActivityWithOptions(noopApply, activity.RegisterOptions{Name: activityref.ApplyStack.Name()})
	w.RegisterActivityWithOptions(noopVerify, activity.RegisterOptions{Name: activityref.VerifyStack.Name()})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting the no-op provisioning worker: %w", err)
	}
	return w, nil
}

var noopChange = stackop.Change{Op: "create", Type: "kubernetes:core/v1:Namespace", Name: "bench"}

// noopPlace keeps the stack's operations on the bench's queue.
func noopPlace(context.Context, stackop.Ref) (stackop.Placement, error) {
	return stackop.Placement{}, nil
}

func noopPreview(_ context.Context, req stackop.StackRequest) (stackop.PreviewResult, error) {
	res := stackop.PreviewResult{Plan: stackop.NewPlan([]stackop.Change{noopChange})}
	if req.SavePlan {
		res.SavedPlan = &stackop.SavedPlan{Digest: "sha256:bench-noop"}
	}
	return res, nil
}

func noopPolicy(context.Context, stackop.PolicyInput) (stackop.PolicyDecision, error) {
	return stackop.PolicyDecision{Outcome: stackop.PolicyAllow}, nil
}

func noopApply(context.Context, stackop.StackRequest, int) (stackop.ApplyResult, error) {
	return stackop.ApplyResult{Resources: 1}, nil
}

func noopVerify(context.Context, stackop.StackRequest) (stackop.Verification, error) {
	return stackop.Verification{InSync: true, Resources: 1}, nil
}

// runNoopProvision runs one no-op ProvisionStack: an up of its own stack of
// the local program.
func runNoopProvision(c client.Client) func(ctx context.Context, suffix string) (time.Duration, error) {
	return func(ctx context.Context, suffix string) (time.Duration, error) {
		in := workflows.ProvisionInput{Program: "local", Stack: "bench-" + suffix,
			Config: map[string]any{"image": "nginx:1.27"}, Requester: "bench"}
		id := workflows.ProvisionWorkflowID(in.Program, in.Stack)
		begin := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: provisionQueue}, "ProvisionStack", in)
		if err != nil {
			return 0, fmt.Errorf("starting ProvisionStack %s: %w", id, err)
		}
		var result workflows.ProvisionResult
		if err := run.Get(ctx, &result); err != nil {
			return 0, fmt.Errorf("ProvisionStack %s failed: %w", id, err)
		}
		if result.Status != workflows.ProvisionSucceeded {
			return 0, fmt.Errorf("ProvisionStack %s ended %q (%s), want %q", id, result.Status, result.Reason, workflows.ProvisionSucceeded)
		}
		return time.Since(begin), nil
	}
}
