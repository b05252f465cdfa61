package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/toolchain"
	"github.com/infraflow/infraflow/workflows"
)

const (
	platformCheckWorkflow = "PlatformCheck (one activity: the temporal-server tool check)"
	noopProvisionWorkflow = "ProvisionStack, no-op engine (preview, policy, apply, verify return at once)"
	// warmupRuns keep first-connection and first-compile costs out of the figures.
	warmupRuns = 10
)

type throughputResult struct {
	Workflow          string  `json:"workflow"`
	Runs              int     `json:"runs"`
	Starters          int     `json:"starters"`
	WallSeconds       float64 `json:"wallSeconds"`
	PerSecond         float64 `json:"workflowsPerSecond"`
	StartToCompletion stats   `json:"startToCompletion"`
}

// measureThroughput runs workflows from a fixed number of concurrent
// starters, each starting one and waiting for its result before the next: a
// closed loop, so the rate is what the engine sustains, not what a client
// can enqueue. runOne runs the workflow with the given ID suffix.
func measureThroughput(ctx context.Context, workflow string, runs, starters int, runOne func(ctx context.Context, id string) (time.Duration, error)) (throughputResult, error) {
	if err := forEach(ctx, warmupRuns, starters, func(ctx context.Context, i int) error {
		_, err := runOne(ctx, fmt.Sprintf("warmup-%d", i))
		return err
	}); err != nil {
		return throughputResult{}, fmt.Errorf("warm-up: %w", err)
	}
	took := make([]time.Duration, runs)
	begin := time.Now()
	err := forEach(ctx, runs, starters, func(ctx context.Context, i int) (err error) {
		took[i], err = runOne(ctx, fmt.Sprintf("%05d", i))
		return err
	})
	wall := time.Since(begin)
	if err != nil {
		return throughputResult{}, err
	}
	return throughputResult{
		Workflow:          workflow,
		Runs:              runs,
		Starters:          starters,
		WallSeconds:       wall.Seconds(),
		PerSecond:         float64(runs) / wall.Seconds(),
		StartToCompletion: summarize(took),
	}, nil
}

// runPlatformCheck runs a PlatformCheck on the measured worker.
func runPlatformCheck(c client.Client) func(ctx context.Context, id string) (time.Duration, error) {
	return func(ctx context.Context, suffix string) (time.Duration, error) {
		id := "bench-check-" + suffix
		begin := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: benchQueue}, "PlatformCheck",
			workflows.PlatformCheckInput{Tools: []string{toolchain.TemporalServer}})
		if err != nil {
			return 0, fmt.Errorf("starting PlatformCheck %s: %w", id, err)
		}
		var result workflows.PlatformCheckResult
		if err := run.Get(ctx, &result); err != nil {
			return 0, fmt.Errorf("PlatformCheck %s failed: %w", id, err)
		}
		return time.Since(begin), nil
	}
}

type latencyResult struct {
	Approvals          int   `json:"approvals"`
	UpdateRoundTrip    stats `json:"updateRoundTrip"`
	UpdateToCompletion stats `json:"updateToCompletion"`
	SignalToCompletion stats `json:"signalToCompletion"`
}

// measureLatency decides waiting approvals one at a time, alternating Update
// and Signal so that both see the same conditions; one at a time so a
// latency is never time spent queueing behind another decision.
func measureLatency(ctx context.Context, c client.Client, n, starters int, timeout time.Duration) (latencyResult, error) {
	ids, err := startApprovals(ctx, c, "bench-latency", 0, n, starters)
	if err != nil {
		return latencyResult{}, err
	}
	if err := waitUntilWaiting(ctx, c, ids, time.Now().Add(timeout)); err != nil {
		return latencyResult{}, err
	}
	decider := &approvals.Client{Temporal: c, Namespace: namespace}
	var roundTrip, updateDone, signalDone []time.Duration
	for i, id := range ids {
		if i%2 == 0 {
			rt, done, err := decideByUpdate(ctx, c, decider, id)
			if err != nil {
				return latencyResult{}, err
			}
			roundTrip, updateDone = append(roundTrip, rt), append(updateDone, done)
		} else {
			done, err := decideBySignal(ctx, c, id)
			if err != nil {
				return latencyResult{}, err
			}
			signalDone = append(signalDone, done)
		}
	}
	return latencyResult{
		Approvals:          n,
		UpdateRoundTrip:    summarize(roundTrip),
		UpdateToCompletion: summarize(updateDone),
		SignalToCompletion: summarize(signalDone),
	}, nil
}

var benchDecision = workflows.DecisionRequest{Approver: "alice", Decision: workflows.DecisionApprove, Reason: "benchmark", Via: "bench"}

func decideByUpdate(ctx context.Context, c client.Client, decider *approvals.Client, id string) (roundTrip, toCompletion time.Duration, err error) {
	begin := time.Now()
	status, err := decider.Decide(ctx, id, benchDecision)
	if err != nil {
		return 0, 0, fmt.Errorf("deciding approval %s by Update: %w", id, err)
	}
	roundTrip = time.Since(begin)
	if status.Status != workflows.ApprovalApproved {
		return 0, 0, fmt.Errorf("approval %s is %q after an approving Update, want %q", id, status.Status, workflows.ApprovalApproved)
	}
	if err := waitApproved(ctx, c, id); err != nil {
		return 0, 0, err
	}
	return roundTrip, time.Since(begin), nil
}

func decideBySignal(ctx context.Context, c client.Client, id string) (time.Duration, error) {
	begin := time.Now()
	if err := c.SignalWorkflow(ctx, id, "", workflows.DecisionSignal, benchDecision); err != nil {
		return 0, fmt.Errorf("deciding approval %s by Signal: %w", id, err)
	}
	if err := waitApproved(ctx, c, id); err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}

func waitApproved(ctx context.Context, c client.Client, id string) error {
	var final workflows.ApprovalStatus
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &final); err != nil {
		return fmt.Errorf("approval %s failed: %w", id, err)
	}
	if final.Status != workflows.ApprovalApproved {
		return fmt.Errorf("approval %s closed as %q, want %q", id, final.Status, workflows.ApprovalApproved)
	}
	return nil
}
