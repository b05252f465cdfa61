package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/gameday"
)

// Game day outcomes.
const (
	// GameDayHeld: the faults ran their course without an abort, and the
	// steady state was back within the recovery bound.
	GameDayHeld = "held"
	// GameDayAborted: an abort condition stopped the method early.
	GameDayAborted = "aborted"
	// GameDayNotHeld: the method ran its course, but the steady state took
	// longer than the recovery bound to return (or never did).
	GameDayNotHeld = "not-held"
	// GameDayNotSteady: the system failed its probes before any fault; none
	// was injected.
	GameDayNotSteady = "not-steady"
	// GameDayRejected: the approval was not given.
	GameDayRejected = "rejected"
	// GameDayDryRun: approved and probed; the faults were listed, not injected.
	GameDayDryRun = "dry-run"
	// GameDayFailed: a fault could not be injected or a probe not run; what
	// had been injected was undone.
	GameDayFailed = "failed"
)

// GameDayResult is the game day's report.
type GameDayResult struct {
	Title    string         `json:"title"`
	Outcome  string         `json:"outcome"`
	Reason   string         `json:"reason,omitempty"`
	Approval ApprovalStatus `json:"approval,omitzero"`
	// HypothesisHeld: no abort, and the steady state returned in time
	// without remediation.
	HypothesisHeld bool `json:"hypothesisHeld"`
	// Score is 0–100: the share of probe rounds during the method that held,
	// halved when remediation was needed, 0 when the steady state never came
	// back.
	Score int `json:"score"`
	// Faults are the faults as injected and undone.
	Faults []GameDayFault `json:"faults"`
	// Timeline is every probe round, before, during and after the method.
	Timeline  []gameday.ProbeRound `json:"timeline"`
	Rollbacks []GameDayAction      `json:"rollbacks,omitempty"`
	// Remediation ran when the steady state did not return in time.
	Remediation []GameDayAction `json:"remediation,omitempty"`
	// Times, measured on the workflow's clock: from the first injection to
	// the abort (detection), from the abort or the method's end until every
	// fault was undone (rollback), and from then until the probes held again
	// (recovery; absent when they never did).
	InjectedAt     time.Time `json:"injectedAt,omitzero"`
	DetectedAt     time.Time `json:"detectedAt,omitzero"`
	RolledBackAt   time.Time `json:"rolledBackAt,omitzero"`
	RecoveredAt    time.Time `json:"recoveredAt,omitzero"`
	TimeToDetect   string    `json:"timeToDetect,omitempty"`
	TimeToRollBack string    `json:"timeToRollBack,omitempty"`
	TimeToRecover  string    `json:"timeToRecover,omitempty"`
	// Interrupted lists what went wrong on the way (a worker that died and
	// retried activities, a cancellation), so the report says so.
	Interrupted []string `json:"interrupted,omitempty"`
	// Plot is the probe values over time with the fault windows shaded.
	Plot *gameday.ReportFiles `json:"plot,omitempty"`
	// PeopleNeeded: the steady state did not return even after remediation,
	// and chat was told.
	PeopleNeeded bool `json:"peopleNeeded,omitempty"`
}

// FaultWindows are the spans of the faults that were injected, for the plot
// (the worker's, and `starter gameday report --out`); a fault still in has
// no end.
func (r GameDayResult) FaultWindows() []gameday.FaultWindow {
	var windows []gameday.FaultWindow
	for _, f := range r.Faults {
		if !f.InjectedAt.IsZero() {
			windows = append(windows, gameday.FaultWindow{Fault: f.Name, Start: f.InjectedAt, End: f.UndoneAt})
		}
	}
	return windows
}

// GameDayFault is one fault's record.
type GameDayFault struct {
	Name        string             `json:"name"`
	Kind        gameday.FaultKind  `json:"kind"`
	Token       string             `json:"token"`
	Description string             `json:"description"`
	InjectedAt  time.Time          `json:"injectedAt,omitzero"`
	Injection   *gameday.Injection `json:"injection,omitempty"`
	UndoneAt    time.Time          `json:"undoneAt,omitzero"`
	Undo        *gameday.Undo      `json:"undo,omitempty"`
	// Error says why injecting it failed (the method then stops).
	Error string `json:"error,omitempty"`
}

// GameDayAction is a rollback or remediation that ran.
type GameDayAction struct {
	Name   string             `json:"name"`
	Kind   gameday.ActionKind `json:"kind"`
	Status string             `json:"status"`
	Detail string             `json:"detail,omitempty"`
}

// GameDayQuery returns the report so far.
const GameDayQuery = "gameday"

// GameDay runs a chaos experiment: approval, the steady state first, the
// faults with continuous probes and abort conditions, rollbacks that always
// run, recovery (remediation when it is late), and a report.
func GameDay(ctx workflow.Context, in GameDayInput) (GameDayResult, error) {
	spec := in.Spec
	g := &gameDayRun{spec: spec, result: GameDayResult{Title: spec.Title}, progress: Progress{Phase: "waiting for approval"},
		run: workflow.GetInfo(ctx).WorkflowExecution.RunID[:8]}
	if err := trackProgress(ctx, &g.progress); err != nil {
		return g.result, err
	}
	if err := workflow.SetQueryHandler(ctx, GameDayQuery, func() (GameDayResult, error) { return g.result, nil }); err != nil {
		return g.result, err
	}

	// 1. People agree to break this, on these targets (a dry run breaks
	// nothing, and may go without).
	if spec.Approval != nil {
		a := spec.Approval
		status, err := askApproval(ctx, "Game day: "+spec.Title, []string{spec.Summary()}, spec.Summary(),
			&ProvisionApproval{Always: true, Approvers: a.Approvers, Groups: a.Groups, Quorum: a.Quorum, Expiry: string(a.Expiry)}, in.Requester, in.RequesterSignature)
		g.result.Approval = status
		if err != nil {
			return g.result, err
		}
		if status.Status != ApprovalApproved {
			return g.finish(ctx, GameDayRejected, fmt.Sprintf("the approval was %s: %s", status.Status, status.Reason))
		}
	}

	// 2. A system that is already broken teaches nothing and gets no fault.
	g.progress.Phase = "checking the steady state"
	before, err := g.probeBaseline(ctx)
	if err != nil {
		return g.result, err
	}
	if before.OnlyUnmeasured() {
		return g.finish(ctx, GameDayNotSteady, fmt.Sprintf("the steady state could not be measured before any fault, in %d attempts over about two minutes: %s",
			baselineAttempts, failedProbes(before)))
	}
	if !before.OK {
		return g.finish(ctx, GameDayNotSteady, "the steady state did not hold before any fault: "+failedProbes(before))
	}
	if spec.DryRun {
		for _, f := range spec.Method {
			g.result.Faults = append(g.result.Faults, GameDayFault{Name: f.ID(), Kind: f.Kind, Token: g.token(f), Description: f.Describe()})
		}
		return g.finish(ctx, GameDayDryRun, "dry run: the steady state held; no fault was injected")
	}

	// 3–6. The method. Whatever ends it (its course, an abort, a failure, a
	// cancellation), the rollbacks run, in a context the cancellation cannot
	// reach.
	methodErr := g.runMethod(ctx)
	cleanup, cancelCleanup := workflow.NewDisconnectedContext(ctx)
	defer cancelCleanup()
	if methodErr != nil && temporal.IsCanceledError(methodErr) {
		g.result.Interrupted = append(g.result.Interrupted, "cancelled during the method; rollbacks ran")
	}
	if err := g.rollBack(cleanup); err != nil {
		return g.result, err
	}
	if methodErr != nil && temporal.IsCanceledError(methodErr) {
		g.result.Outcome, g.result.Reason = GameDayAborted, "cancelled during the method"
		g.report(cleanup)
		return g.result, methodErr
	}
	if methodErr != nil {
		return g.finish(cleanup, GameDayFailed, "the method stopped: "+methodErr.Error()+"; every fault it began was undone")
	}

	// 7. Does the steady state come back by itself, and how fast?
	if err := g.recover(ctx); err != nil {
		return g.result, err
	}
	failed, total := g.methodRounds()
	outcome, reason := GameDayHeld, fmt.Sprintf("no abort, and the steady state returned within %s (%d of %d probe rounds failed while the faults were in)", spec.RecoveryTimeout, failed, total)
	switch {
	case g.aborted != "":
		outcome, reason = GameDayAborted, g.aborted
	case g.result.RecoveredAt.IsZero() || len(g.result.Remediation) > 0:
		outcome, reason = GameDayNotHeld, "the steady state did not return within "+string(spec.RecoveryTimeout)
	}
	return g.finish(ctx, outcome, reason+g.remediated())
}

// remediated says, for the reason (and so chat), what the remediation did
// when it ran: whether the steady state came back after it, and how each
// action went.
func (g *gameDayRun) remediated() string {
	if len(g.result.Remediation) == 0 {
		return ""
	}
	var actions []string
	for _, a := range g.result.Remediation {
		actions = append(actions, a.Name+" "+a.Status)
	}
	if g.result.PeopleNeeded {
		return "; nor after the remediation (" + strings.Join(actions, ", ") + ")"
	}
	return "; it returned after the remediation (" + strings.Join(actions, ", ") + ")"
}

// gameDayRun is one game day's state.
type gameDayRun struct {
	spec     gameday.Experiment
	result   GameDayResult
	progress Progress
	// aborted says which abort condition stopped the method.
	aborted string
	// attempted marks the faults whose injection began: each is undone by
	// the rollbacks, however its injection ended.
	attempted []bool
	// methodEnd is when the method stopped (its course, or the abort).
	methodEnd time.Time
	// run is the start of this run's ID, which the fault tokens carry.
	run string
	// worker is the last worker process seen measuring or acting.
	worker string
}

// token names what a fault leaves behind, unique to this run: a retry after
// a crash, and the undo, find it by this name.
func (g *gameDayRun) token(f gameday.Fault) string {
	return "gameday-" + g.run + "-" + f.ID()
}

// probe measures every steady-state probe once and records the round.
func (g *gameDayRun) probe(ctx workflow.Context, phase string) (gameday.ProbeRound, error) {
	return g.probeWith(ctx, gameday.ProbeRequest{Probes: g.spec.SteadyState.Probes, Phase: phase},
		&temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3})
}

// baselineAttempts is how often the round before any fault is tried while
// some probe cannot measure: with backoff from 2 s to 20 s, about two
// minutes, enough for an API server or a target to restart.
const baselineAttempts = 9

// probeBaseline measures the steady state before any fault. A round that
// measured something out of tolerance is final; one where a probe could not
// measure at all is tried again, since nothing has been broken yet that
// could explain it, and the last such round is what the report shows.
func (g *gameDayRun) probeBaseline(ctx workflow.Context) (gameday.ProbeRound, error) {
	round, err := g.probeWith(ctx, gameday.ProbeRequest{Probes: g.spec.SteadyState.Probes, Phase: gameday.PhaseBefore, RetryUnmeasured: true},
		&temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second, MaximumAttempts: baselineAttempts})
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.Type() != gameday.ErrTypeUnmeasured {
		return round, err
	}
	if err := appErr.Details(&round); err != nil {
		return round, fmt.Errorf("reading the last unmeasured round: %w", err)
	}
	g.noteWorker(round.At, round.Worker)
	g.result.Timeline = append(g.result.Timeline, round)
	return round, nil
}

func (g *gameDayRun) probeWith(ctx workflow.Context, req gameday.ProbeRequest, retry *temporal.RetryPolicy) (gameday.ProbeRound, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		// A round heartbeats while it measures: a worker lost mid-round is
		// noticed in seconds, and the round runs again on another.
		HeartbeatTimeout: 10 * time.Second,
		RetryPolicy:      retry,
	})
	round, err := activityref.RunProbes.Run(actx, req)
	if err != nil {
		return round, fmt.Errorf("probing the steady state (%s): %w", req.Phase, err)
	}
	g.noteWorker(round.At, round.Worker)
	g.result.Timeline = append(g.result.Timeline, round)
	return round, nil
}

// noteWorker records a change of the worker process that measures and acts:
// the one before was killed or stopped (or another worker took over), and the
// report says so.
func (g *gameDayRun) noteWorker(at time.Time, worker string) {
	if worker == "" {
		return
	}
	if g.worker != "" && worker != g.worker {
		g.result.Interrupted = append(g.result.Interrupted, fmt.Sprintf("%s: worker %s took over from %s (killed, restarted or replaced)", at.UTC().Format(time.RFC3339), worker, g.worker))
	}
	g.worker = worker
}

// finish scores, plots, tells chat, and returns the report.
func (g *gameDayRun) finish(ctx workflow.Context, outcome, reason string) (GameDayResult, error) {
	g.result.Outcome, g.result.Reason = outcome, reason
	g.result.HypothesisHeld = outcome == GameDayHeld
	g.result.Score = g.score()
	g.report(ctx)
	g.progress.Phase = "done: " + outcome
	return g.result, nil
}

// score is the resilience score (see GameDayResult.Score).
func (g *gameDayRun) score() int {
	if g.result.InjectedAt.IsZero() || g.result.RecoveredAt.IsZero() {
		return 0
	}
	failed, total := g.methodRounds()
	held := total - failed
	score := 100
	if total > 0 {
		score = 100 * held / total
	}
	if len(g.result.Remediation) > 0 {
		score /= 2
	}
	return score
}

// methodRounds counts the probe rounds taken while the faults were in, and
// those that failed.
func (g *gameDayRun) methodRounds() (failed, total int) {
	for _, r := range g.result.Timeline {
		if r.Phase == "method" {
			total++
			if !r.OK {
				failed++
			}
		}
	}
	return failed, total
}

// report plots the timeline and posts the outcome to chat. Neither may fail
// the game day: its faults are already undone, and the result says what
// happened either way.
func (g *gameDayRun) report(ctx workflow.Context) {
	info := workflow.GetInfo(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	if len(g.result.Timeline) > 0 {
		files, err := activityref.WriteGameDayReport.Run(actx, gameday.ReportRequest{
			WorkflowID: info.WorkflowExecution.ID, Title: g.spec.Title, Rounds: g.result.Timeline, Faults: g.result.FaultWindows()})
		if err != nil {
			workflow.GetLogger(ctx).Warn("Game day plot not written", "error", err)
		} else {
			g.result.Plot = &files
		}
	}
	text := fmt.Sprintf("Game day %s: %s — %s (score %d)", g.spec.Title, g.result.Outcome, g.result.Reason, g.result.Score)
	if g.result.TimeToDetect != "" || g.result.TimeToRecover != "" {
		text += fmt.Sprintf("; detected in %s, rolled back in %s, recovered in %s", orNone(g.result.TimeToDetect), orNone(g.result.TimeToRollBack), orNone(g.result.TimeToRecover))
	}
	if g.result.PeopleNeeded {
		text += ". People are needed: the steady state has not returned."
	}
	if err := activityref.NotifyChat.Run(actx, gameday.Notice{WorkflowID: info.WorkflowExecution.ID, Title: g.spec.Title, Text: text}); err != nil {
		workflow.GetLogger(ctx).Warn("Game day outcome not posted", "error", err)
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// failedProbes names the probes a round failed, with what they measured.
func failedProbes(r gameday.ProbeRound) string {
	out := ""
	for _, res := range r.Results {
		if !res.OK {
			if out != "" {
				out += "; "
			}
			out += res.Probe + ": " + res.Detail
		}
	}
	return out
}

// since formats the time from a to b for the report.
func since(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return ""
	}
	return b.Sub(a).Round(time.Millisecond).String()
}
