package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/policy"
	"github.com/infraflow/infraflow/internal/pulumistack"
	"github.com/infraflow/infraflow/internal/stackop"
)

// PreviewStack plans the operation (refresh included, so drift shows).
func (a *Activities) PreviewStack(ctx context.Context, req stackop.StackRequest) (stackop.PreviewResult, error) {
	var res stackop.PreviewResult
	defer heartbeatEvery(ctx, 5*time.Second, func() any { return "previewing" })()
	// Opening a stack creates it; a refresh of one that was never created
	// would leave an empty stack behind and report nothing.
	if req.Operation == stackop.OpRefresh {
		names, err := a.Pulumi.Stacks(ctx, req.Program)
		if err != nil {
			return res, err
		}
		if !slices.Contains(names, req.Stack) {
			existing := "none"
			if len(names) > 0 {
				existing = strings.Join(names, ", ")
			}
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("program %s has no stack %q (its stacks: %s)", req.Program, req.Stack, existing), stackop.ErrTypeNoStack, nil)
		}
	}
	hold, err := a.holdStack(ctx, req.Ref())
	if err != nil {
		return res, err
	}
	defer hold.Release()
	stack, err := a.Pulumi.Open(ctx, req.Ref(), req.Config)
	if err != nil {
		return res, err
	}
	defer pulumistack.Close(stack)
	var before pulumistack.State
	if res.Recovered, before, err = a.Pulumi.Recover(ctx, stack, req.Ref(), hold); err != nil {
		return res, recoveryFailure(err)
	}
	res.ResourcesBefore = before.Resources
	if res.LastGoodConfig, err = a.Pulumi.LastGoodConfig(ctx, req.Ref()); err != nil {
		return res, err
	}
	switch req.Operation {
	case stackop.OpDestroy:
		res.Plan, err = pulumistack.PreviewDestroy(ctx, stack)
	case stackop.OpRefresh:
		res.Plan, err = pulumistack.PreviewRefresh(ctx, stack)
	default:
		res.Plan, res.SavedPlan, err = a.previewUp(ctx, stack, req)
	}
	if err != nil {
		return res, previewFailure(ctx, err)
	}
	activity.GetLogger(ctx).Info("Previewed stack", "stack", req.Ref().String(), "summary", res.Plan.Summary)
	return res, nil
}

// previewFailure classes a failed preview. What the infrastructure's API
// answered is final; an API that could not be reached (restarting, a network
// blip: make soak saw DriftCheck fail while the local API server restarted)
// may answer the next attempt, and a preview changes nothing. A preview
// interrupted because its attempt ended (the start-to-close deadline on a
// loaded machine, the worker stopping) failed for no reason of its own, and
// is tried again.
func previewFailure(ctx context.Context, err error) error {
	if ended := attemptEnded(ctx, err); ended != nil {
		return ended
	}
	if errors.Is(err, pulumistack.ErrPlanRefused) {
		return temporal.NewNonRetryableApplicationError(err.Error(), stackop.ErrTypePlanRefused, nil)
	}
	msg := strings.ToLower(err.Error())
	for _, transient := range slices.Concat(neverReached, lostMidway) {
		if strings.Contains(msg, transient) {
			return temporal.NewApplicationError(err.Error()+" (the API could not be reached; the preview is tried again)", stackop.ErrTypeEngineFailed)
		}
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), stackop.ErrTypeEngineFailed, nil)
}

// neverReached are the errors of a request that never reached the API: it
// did nothing, whatever it asked for.
var neverReached = []string{"connection refused", "no route to host", "tls handshake timeout"}

// lostMidway are the errors of a request whose connection broke after it was
// sent: harmless to repeat for a read, not for a change.
var lostMidway = []string{"connection reset by peer", "i/o timeout"}

// applyFailure classes a failed up, destroy or refresh. Unlike a preview, an
// apply changes things, and a request whose connection broke midway may
// have been carried out: only an apply whose every error is a request that
// never reached the API (make soak saw a remediation fail while the local
// API server restarted, and its changes reverted) is tried again. Pulumi's
// state keeps whatever the attempt did.
func applyFailure(ctx context.Context, err error) error {
	if ended := attemptEnded(ctx, err); ended != nil {
		return ended
	}
	if errors.Is(err, pulumistack.ErrPlanViolated) {
		return temporal.NewNonRetryableApplicationError(err.Error(), stackop.ErrTypePlanStale, nil)
	}
	unreached, other := 0, 0
	for _, line := range strings.Split(strings.ToLower(err.Error()), "\n") {
		_, text, found := strings.Cut(line, "error: ")
		if !found || genericFailure.MatchString(text) {
			continue
		}
		if slices.ContainsFunc(neverReached, func(s string) bool { return strings.Contains(text, s) }) {
			unreached++
		} else {
			other++
		}
	}
	if unreached > 0 && other == 0 {
		return temporal.NewApplicationError(err.Error()+" (the API could not be reached; nothing was asked of it, and the apply is tried again)", stackop.ErrTypeEngineFailed)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), stackop.ErrTypeEngineFailed, nil)
}

// genericFailure is the line Pulumi adds under the resources' own errors.
var genericFailure = regexp.MustCompile(`^\s*(update|destroy|refresh|preview) failed\s*$`)

// attemptEnded is err, marked retryable, when the engine stopped because
// this activity attempt ended under it (its deadline on a loaded machine, a
// cancellation, the worker stopping) rather than for a reason of its own;
// nil while the attempt is live.
func attemptEnded(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("%w (the attempt ended: %w)", err, ctx.Err())
}

// previewUp previews an up and, when asked, files the update plan it saves.
func (a *Activities) previewUp(ctx context.Context, stack auto.Stack, req stackop.StackRequest) (stackop.Plan, *stackop.SavedPlan, error) {
	if !req.SavePlan {
		plan, err := pulumistack.Preview(ctx, stack, "")
		return plan, nil, err
	}
	planFile, err := a.Pulumi.NewPlanFile(req.Ref())
	if err != nil {
		return stackop.Plan{}, nil, err
	}
	defer os.Remove(planFile)
	plan, err := pulumistack.Preview(ctx, stack, planFile)
	if err != nil {
		return plan, nil, err
	}
	saved, err := a.Pulumi.StorePlan(ctx, req.Ref(), planFile)
	if err != nil {
		return plan, nil, err
	}
	return plan, &saved, nil
}

// ApplyStack runs up, refresh or destroy, streaming engine progress into
// heartbeats. A retry after a crash first repairs what the killed run left.
func (a *Activities) ApplyStack(ctx context.Context, req stackop.StackRequest, planned int) (stackop.ApplyResult, error) {
	var res stackop.ApplyResult
	var planFile string
	if req.Plan != nil {
		var err error
		if planFile, err = a.Pulumi.PlanFile(ctx, req.Ref(), *req.Plan); errors.Is(err, pulumistack.ErrPlanRefused) {
			return res, temporal.NewNonRetryableApplicationError(err.Error()+"; nothing was applied", stackop.ErrTypePlanRefused, nil)
		} else if err != nil {
			return res, err
		}
		defer os.Remove(planFile)
	}
	hold, err := a.holdStack(ctx, req.Ref())
	if err != nil {
		return res, err
	}
	defer hold.Release()
	stack, err := a.Pulumi.Open(ctx, req.Ref(), req.Config)
	if err != nil {
		return res, err
	}
	defer pulumistack.Close(stack)
	if res.Recovered, _, err = a.Pulumi.Recover(ctx, stack, req.Ref(), hold); err != nil {
		return res, recoveryFailure(err)
	}
	if len(res.Recovered) > 0 {
		activity.GetLogger(ctx).Warn("Recovered stack from an earlier run", "stack", req.Ref().String(), "actions", res.Recovered)
	}

	var mu sync.Mutex
	latest := stackop.Progress{Total: planned}
	info := activity.GetInfo(ctx)
	// Every signal is an event in the workflow's history, which must stay
	// small: progress goes to the workflow once a second when a resource was
	// done since the last signal, and at once when the last one is. That
	// bounds the signals by the resources planned.
	signaled := 0
	signal := func(p stackop.Progress) {
		// The workflow's progress query shows the engine's progress live; a
		// lost update only delays the next one.
		_ = a.Temporal.SignalWorkflow(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, stackop.EngineProgressSignal, p)
	}
	report := func(p stackop.Progress) {
		mu.Lock()
		latest = p
		final := p.Done >= p.Total && p.Done != signaled
		if final {
			signaled = p.Done
		}
		mu.Unlock()
		activity.RecordHeartbeat(ctx, p)
		if final {
			signal(p)
		}
	}
	stopSignals := every(ctx, time.Second, func() {
		mu.Lock()
		p := latest
		send := p.Done != signaled
		if send {
			signaled = p.Done
		}
		mu.Unlock()
		if send {
			signal(p)
		}
	})
	defer stopSignals()
	stop := heartbeatEvery(ctx, 5*time.Second, func() any { mu.Lock(); defer mu.Unlock(); return latest })
	switch req.Operation {
	case stackop.OpDestroy:
		err = pulumistack.Destroy(ctx, stack, planned, report)
	case stackop.OpRefresh:
		err = pulumistack.Refresh(ctx, stack)
	default:
		res.Outputs, err = pulumistack.Up(ctx, stack, planned, report, planFile)
	}
	stop()
	stopSignals()
	if err != nil {
		return res, applyFailure(ctx, err)
	}
	after, err := a.Pulumi.ReadState(ctx, req.Ref())
	if err != nil {
		return res, err
	}
	if len(after.Pending) > 0 {
		return res, fmt.Errorf("stack %s has pending operations after %s: %v", req.Ref(), req.Operation, after.Pending)
	}
	res.Resources = after.Resources
	return res, nil
}

// heartbeatEvery keeps a long engine call alive while no event arrives.
func heartbeatEvery(ctx context.Context, interval time.Duration, details func() any) (stop func()) {
	return every(ctx, interval, func() { activity.RecordHeartbeat(ctx, details()) })
}

// every runs do at each interval until stop is called or ctx ends.
func every(ctx context.Context, interval time.Duration, do func()) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				do()
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// VerifyStack refreshes in preview mode: nothing to refresh and nothing pending
// means the infrastructure is what the state says.
func (a *Activities) VerifyStack(ctx context.Context, req stackop.StackRequest) (stackop.Verification, error) {
	var v stackop.Verification
	defer heartbeatEvery(ctx, 5*time.Second, func() any { return "verifying" })()
	hold, err := a.holdStack(ctx, req.Ref())
	if err != nil {
		return v, err
	}
	defer hold.Release()
	stack, err := a.Pulumi.Open(ctx, req.Ref(), req.Config)
	if err != nil {
		return v, err
	}
	defer pulumistack.Close(stack)
	plan, err := pulumistack.PreviewRefresh(ctx, stack)
	if err != nil {
		return v, err
	}
	for _, c := range plan.Changes {
		if c.Op != stackop.ChangeSame {
			v.Drift = append(v.Drift, c)
		}
	}
	st, err := a.Pulumi.ReadState(ctx, req.Ref())
	if err != nil {
		return v, err
	}
	v.Pending, v.Resources = st.Pending, st.Resources
	v.InSync = len(v.Drift) == 0 && len(v.Pending) == 0
	return v, nil
}

// CheckPolicy evaluates the repository's Rego policies on a plan.
func (a *Activities) CheckPolicy(ctx context.Context, in stackop.PolicyInput) (stackop.PolicyDecision, error) {
	return policy.Evaluate(ctx, in)
}

// holdStack claims the stack for this activity, waiting (and heartbeating)
// while another live worker operates on it: a retry after a heartbeat
// timeout may find the first attempt still running on a slow or paused
// worker, and must neither break its lock nor give up.
func (a *Activities) holdStack(ctx context.Context, ref stackop.Ref) (*pulumistack.Hold, error) {
	identity := a.Identity
	waiting := false
	for {
		hold, err := a.Pulumi.Hold(ctx, ref, identity)
		var held *pulumistack.HeldError
		if !errors.As(err, &held) {
			return hold, err
		}
		if !waiting {
			activity.GetLogger(ctx).Warn("Waiting for a stack another worker holds", "stack", ref.String(), "holder", held.By.String())
			waiting = true
		}
		activity.RecordHeartbeat(ctx, "waiting: "+held.Error())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (while waiting: %s)", ctx.Err(), held)
		case <-time.After(2 * time.Second):
		}
	}
}

// recoveryFailure classes a stack that could not be recovered: a Pulumi lock
// whose writer may be alive is not ours to break, and retrying soon changes
// nothing, so the workflow is told at once.
func recoveryFailure(err error) error {
	var locked *pulumistack.LockedError
	if errors.As(err, &locked) {
		return temporal.NewNonRetryableApplicationError(err.Error(), stackop.ErrTypeStackLocked, nil)
	}
	return err
}

// PlaceStack says which task queue a stack's operations go to: a host-bound
// stack's site (where its hosts live), or the shared queue.
func (a *Activities) PlaceStack(ctx context.Context, ref stackop.Ref) (stackop.Placement, error) {
	if a.Pulumi.Site == "" {
		// A worker without a site (a test's) runs everything it is given.
		return stackop.Placement{}, nil
	}
	shared := activity.GetInfo(ctx).TaskQueue
	if !pulumistack.HostBound(ref.Program) {
		return stackop.Placement{TaskQueue: EngineQueue(shared)}, nil
	}
	site, err := a.Pulumi.Place(ctx, ref)
	if err != nil {
		return stackop.Placement{}, err
	}
	return stackop.Placement{Site: site, TaskQueue: SiteQueue(shared, site)}, nil
}

// SiteQueue is the task queue of a site's host-bound work beside a shared
// queue.
func SiteQueue(shared, site string) string {
	return shared + "@" + site
}

// EngineQueue is the task queue of the stack operations any worker can run:
// like a site's queue it is served with few slots, so that engine runs
// (minutes, a CPU each) neither overload a machine nor hold the slots of
// the short activities (notices, directory look-ups, policy checks, probes)
// on the shared queue.
func EngineQueue(shared string) string {
	return shared + "-engine"
}
