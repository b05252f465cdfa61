package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// The game day the runs play, as tests/gameday_test.go plays it: 300 ms of
// latency on the proxy against a p95 of at most 200 ms.
const (
	probeInterval = 2 * time.Second
	faultLatency  = 300 * time.Millisecond
	sloLatency    = 200 * time.Millisecond
	abortAfter    = 2
	recoveryBound = 30 * time.Second
	// timingFault outlasts any detection: the abort ends it, not its course.
	timingFault = 2 * time.Minute
	// neverAbort keeps the kill sweep's game days running through a fault
	// that breaks every probe round: those runs are about the rollback.
	neverAbort = 1000

	minDown = time.Second
	maxDown = 3 * time.Second
	// resultTimeout bounds one game day: an activity lost with its worker
	// and no heartbeat (inject, undo) is retried after its 1–2 minute
	// start-to-close timeout.
	resultTimeout = 15 * time.Minute
)

// Targets (issue 11): detection within 2 probe intervals, rollback within
// 5 s of detection, recovery well under the seeds' 5 minutes (here: within
// the game day's own 30 s bound).
const (
	detectTarget   = 2 * probeInterval
	rollbackTarget = 5 * time.Second
	recoverTarget  = recoveryBound
	seedsRecovery  = 5 * time.Minute
)

func latencyGameDay(title, proxied string, faultFor time.Duration, abortCount int) gameday.Experiment {
	return gameday.Experiment{
		Title: title, ProbeInterval: duration(probeInterval), RecoveryTimeout: duration(recoveryBound),
		Approval: &gameday.Approval{Groups: []string{"sre"}},
		SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "app-latency", Kind: gameday.ProbeHTTP,
			HTTP: &gameday.HTTPProbe{URL: "http://" + proxied + "/", Samples: 3, Timeout: "2s", Percentile: 95, MaxLatency: duration(sloLatency)}}}},
		Method: []gameday.Fault{{Name: "slow-app", Kind: gameday.FaultLatency, Duration: duration(faultFor),
			Toxic: &gameday.Toxic{Proxy: proxyName, Latency: duration(faultLatency)}}},
		Abort:       []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Probe: "app-latency", Count: abortCount}},
		Remediation: []gameday.Action{{Name: "tell-sre", Kind: gameday.ActionNotify, Message: "the app is still slow after the bench game day"}},
	}
}

func duration(d time.Duration) gameday.Duration { return gameday.Duration(d.String()) }

// startApproved starts a game day through the SDK, as `dave`, and approves
// it with the starter as alice; it returns when the approval is recorded.
func (b *bench) startApproved(ctx context.Context, id string, spec gameday.Experiment) (client.WorkflowRun, time.Time, error) {
	run, err := b.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: gameDayQueue}, "GameDay",
		workflows.GameDayInput{Spec: spec, Requester: "dave"})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("starting GameDay %s: %w", id, err)
	}
	approval, err := b.pendingApproval(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := b.approve(ctx, approval); err != nil {
		return nil, time.Time{}, err
	}
	return run, time.Now(), nil
}

func (b *bench) result(ctx context.Context, run client.WorkflowRun) (workflows.GameDayResult, error) {
	ctx, cancel := context.WithTimeout(ctx, resultTimeout)
	defer cancel()
	var res workflows.GameDayResult
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("the result of %s: %w", run.GetID(), err)
	}
	return res, nil
}

// leftBehind lists the toxics toxiproxy still has, then removes them so the
// next run measures a healthy proxy (the report has counted them).
func (b *bench) leftBehind() ([]string, error) {
	left, err := b.toxics()
	if err != nil {
		return nil, err
	}
	for _, t := range left {
		if err := b.removeToxic(t); err != nil {
			return left, err
		}
	}
	return left, nil
}

// timingRun is one game day that aborts; its times come from its report,
// measured on the workflow's clock.
type timingRun struct {
	Run        int      `json:"run"`
	WorkflowID string   `json:"workflowId"`
	Outcome    string   `json:"outcome"`
	Reason     string   `json:"reason"`
	DetectS    float64  `json:"detectSeconds"`
	RollbackS  float64  `json:"rollbackSeconds"`
	RecoverS   float64  `json:"recoverSeconds"`
	ToxicsLeft []string `json:"toxicsLeft"`
	// UndoVerified: the fault's undo read toxiproxy back and found no toxic.
	UndoVerified bool     `json:"undoVerified"`
	Problems     []string `json:"problems,omitempty"`
}

func (b *bench) timingRun(ctx context.Context, i int) (timingRun, error) {
	r := timingRun{Run: i, WorkflowID: fmt.Sprintf("bench-gameday-timing-%d", i)}
	spec := latencyGameDay(fmt.Sprintf("bench timing %d: p95 under %s with %s added", i, sloLatency, faultLatency), b.proxied, timingFault, abortAfter)
	run, _, err := b.startApproved(ctx, r.WorkflowID, spec)
	if err != nil {
		return r, err
	}
	res, err := b.result(ctx, run)
	if err != nil {
		return r, err
	}
	r.Outcome, r.Reason = res.Outcome, res.Reason
	if r.ToxicsLeft, err = b.leftBehind(); err != nil {
		return r, err
	}
	if len(r.ToxicsLeft) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("toxics left on toxiproxy: %v", r.ToxicsLeft))
	}
	if res.Outcome != workflows.GameDayAborted {
		r.Problems = append(r.Problems, fmt.Sprintf("outcome %s (%s), want %s", res.Outcome, res.Reason, workflows.GameDayAborted))
	}
	if len(res.Faults) == 1 {
		u := res.Faults[0].Undo
		r.UndoVerified = u != nil && u.Verified
	}
	if !r.UndoVerified {
		r.Problems = append(r.Problems, fmt.Sprintf("the fault's undo is not verified: %+v", res.Faults))
	}
	if res.InjectedAt.IsZero() || res.DetectedAt.IsZero() || res.RolledBackAt.IsZero() || res.RecoveredAt.IsZero() {
		r.Problems = append(r.Problems, fmt.Sprintf("a time is missing: injected %s, detected %s, rolled back %s, recovered %s",
			res.InjectedAt, res.DetectedAt, res.RolledBackAt, res.RecoveredAt))
		return r, nil
	}
	r.DetectS = res.DetectedAt.Sub(res.InjectedAt).Seconds()
	r.RollbackS = res.RolledBackAt.Sub(res.DetectedAt).Seconds()
	r.RecoverS = res.RecoveredAt.Sub(res.RolledBackAt).Seconds()
	return r, nil
}

func (r timingRun) line() string {
	s := fmt.Sprintf("run %d: %s; detect %.2f s, rollback %.3f s, recover %.3f s, toxics left %d, undo verified %t",
		r.Run, r.Outcome, r.DetectS, r.RollbackS, r.RecoverS, len(r.ToxicsLeft), r.UndoVerified)
	if len(r.Problems) > 0 {
		s += "; PROBLEMS: " + strings.Join(r.Problems, "; ")
	}
	return s
}

// killRun is one game day whose worker was SIGKILLed and started again.
type killRun struct {
	Run        int    `json:"run"`
	WorkflowID string `json:"workflowId"`
	// KillAtS is when the kill landed, after the approval was recorded.
	KillAtS       float64 `json:"killAtSeconds"`
	RestartAfterS float64 `json:"restartAfterSeconds"`
	// PhaseAtKill is the workflow's progress query, asked just before the kill.
	PhaseAtKill string `json:"phaseAtKill"`
	// RunningAtKill: the workflow had not closed when the kill landed.
	RunningAtKill bool `json:"runningAtKill"`
	// FaultWindowAtKill: the kill landed between the injection and the end
	// of the rollback, when an activity that names its worker is still to
	// come, so the report can see the takeover.
	FaultWindowAtKill bool `json:"faultWindowAtKill"`
	// Runs lists the workflow ID's executions as visibility has them.
	Runs          []string `json:"executions"`
	CompletedOnce bool     `json:"completedOnce"`
	Outcome       string   `json:"outcome"`
	// DoneAfterKillS is from the kill to the workflow's close.
	DoneAfterKillS float64  `json:"doneAfterKillSeconds"`
	ToxicsLeft     []string `json:"toxicsLeft"`
	FaultsBegun    int      `json:"faultsBegun"`
	UndosVerified  int      `json:"undosVerified"`
	Interrupted    []string `json:"interrupted"`
	Problems       []string `json:"problems,omitempty"`
}

func (b *bench) killRun(ctx context.Context, i int, plan killPlan, faultFor time.Duration) (killRun, error) {
	r := killRun{Run: i, WorkflowID: fmt.Sprintf("bench-gameday-kill-%d", i), RestartAfterS: plan.RestartAfter.Seconds()}
	spec := latencyGameDay(fmt.Sprintf("bench kill %d: p95 under %s with %s added", i, sloLatency, faultLatency), b.proxied, faultFor, neverAbort)
	run, approvedAt, err := b.startApproved(ctx, r.WorkflowID, spec)
	if err != nil {
		return r, err
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(time.Until(approvedAt.Add(plan.At))):
	}
	r.PhaseAtKill = b.phase(ctx, r.WorkflowID)
	killedAt := time.Now()
	if err := b.worker.Kill(); err != nil {
		return r, err
	}
	r.KillAtS = killedAt.Sub(approvedAt).Seconds()
	time.Sleep(plan.RestartAfter)
	if err := b.startWorker(ctx); err != nil {
		return r, fmt.Errorf("starting the worker again: %w", err)
	}

	res, resultErr := b.result(ctx, run)
	if resultErr != nil {
		r.Problems = append(r.Problems, resultErr.Error())
	}
	r.Outcome, r.Interrupted = res.Outcome, res.Interrupted
	execs, err := b.closedExecutions(ctx, r.WorkflowID)
	if err != nil {
		return r, err
	}
	for _, e := range execs {
		r.Runs = append(r.Runs, e.Status.String())
	}
	r.CompletedOnce = len(execs) == 1 && execs[0].Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	if !r.CompletedOnce {
		r.Problems = append(r.Problems, fmt.Sprintf("executions %v, want exactly one, completed", r.Runs))
	}
	if len(execs) > 0 && !execs[0].ClosedAt.IsZero() {
		r.RunningAtKill = killedAt.Before(execs[0].ClosedAt)
		r.DoneAfterKillS = execs[0].ClosedAt.Sub(killedAt).Seconds()
	}
	for _, f := range res.Faults {
		if f.InjectedAt.IsZero() {
			continue
		}
		r.FaultsBegun++
		if f.Undo != nil && f.Undo.Verified {
			r.UndosVerified++
		}
	}
	if r.UndosVerified != r.FaultsBegun || r.FaultsBegun == 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d faults begun have a verified undo (want all, and at least one)", r.UndosVerified, r.FaultsBegun))
	}
	if r.ToxicsLeft, err = b.leftBehind(); err != nil {
		return r, err
	}
	if len(r.ToxicsLeft) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("toxics left on toxiproxy: %v", r.ToxicsLeft))
	}
	r.FaultWindowAtKill = !res.InjectedAt.IsZero() && !res.RolledBackAt.IsZero() && !killedAt.Before(res.InjectedAt) && killedAt.Before(res.RolledBackAt)
	if r.FaultWindowAtKill && len(r.Interrupted) == 0 {
		r.Problems = append(r.Problems, "the kill landed between injection and rollback, but the report's interrupted is empty")
	}
	return r, nil
}

// phase asks the workflow's progress query; a query that fails says why in
// the table instead of stopping the sweep.
func (b *bench) phase(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := b.client.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
	if err != nil {
		return "query failed: " + err.Error()
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return "query unreadable: " + err.Error()
	}
	return p.Phase
}

// closedExecutions waits until visibility shows the workflow ID's runs
// closed: its records follow the history by a moment.
func (b *bench) closedExecutions(ctx context.Context, id string) ([]execution, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		execs, err := b.executions(ctx, id)
		if err != nil {
			return nil, err
		}
		closed := len(execs) > 0
		for _, e := range execs {
			closed = closed && !e.ClosedAt.IsZero()
		}
		if closed || time.Now().After(deadline) {
			return execs, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r killRun) line() string {
	s := fmt.Sprintf("run %d: kill at %.1f s (%s), restart after %.1f s; %v %s, done %.1f s after the kill; toxics left %d, verified undos %d/%d, interrupted %d",
		r.Run, r.KillAtS, r.PhaseAtKill, r.RestartAfterS, r.Runs, r.Outcome, r.DoneAfterKillS, len(r.ToxicsLeft), r.UndosVerified, r.FaultsBegun, len(r.Interrupted))
	if len(r.Problems) > 0 {
		s += "; PROBLEMS: " + strings.Join(r.Problems, "; ")
	}
	return s
}
