package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/gameday"
)

// gameDayScript plays the chaos activities: a probe round holds unless the
// script's breaks says it fails at that moment (given the faults in), and it
// records every injection, undo and notice.
type gameDayScript struct {
	// broken says whether a round in this phase fails, given how many
	// faults are in and how many recovery rounds came before.
	broken   func(phase string, faultsIn, recoveryRound int) bool
	decision string

	// unreachableBefore is how many "before" rounds cannot measure at all
	// (the target out of reach), as the real activity reports them.
	unreachableBefore int

	// switchAfter, when set, has a second worker process answer from that
	// probe round on (the first was killed and another took over).
	switchAfter int

	in, recoveryRounds, rounds int
	injected, undone           []string
	notices                    []string
	env                        *testsuite.TestWorkflowEnvironment
}

func (s *gameDayScript) run(t *testing.T, spec gameday.Experiment, during func(*testsuite.TestWorkflowEnvironment)) (GameDayResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	s.env = env
	Register(env)
	activities.Register(env, &activities.Activities{})
	if s.decision == "" {
		s.decision = ApprovalApproved
	}
	onActivity(env, activityref.RunProbes, func(_ context.Context, in gameday.ProbeRequest) (gameday.ProbeRound, error) {
		if in.Phase == "recovery" {
			s.recoveryRounds++
		}
		if in.RetryUnmeasured && s.unreachableBefore > 0 {
			s.unreachableBefore--
			s.rounds++
			round := gameday.ProbeRound{At: env.Now(), Worker: "100@host", Phase: in.Phase}
			for _, p := range in.Probes {
				round.Results = append(round.Results, gameday.ProbeResult{Probe: p.Name, Kind: p.Kind, Unmeasured: true, Detail: "could not measure: connection refused"})
			}
			return round, temporal.NewApplicationError("the steady state could not be measured before any fault", gameday.ErrTypeUnmeasured, round)
		}
		ok := !s.broken(in.Phase, s.in, s.recoveryRounds)
		s.rounds++
		worker := "100@host"
		if s.switchAfter > 0 && s.rounds > s.switchAfter {
			worker = "200@host"
		}
		round := gameday.ProbeRound{At: env.Now(), Worker: worker, Phase: in.Phase, OK: ok}
		for _, p := range in.Probes {
			round.Results = append(round.Results, gameday.ProbeResult{Probe: p.Name, Kind: p.Kind, Value: 0.1, OK: ok, Detail: "p95 measured"})
		}
		return round, nil
	})
	onActivity(env, activityref.InjectFault, func(_ context.Context, in gameday.FaultRequest) (gameday.Injection, error) {
		s.injected = append(s.injected, in.Token)
		s.in++
		return gameday.Injection{Targets: []string{"proxy app"}}, nil
	})
	onActivity(env, activityref.UndoFault, func(_ context.Context, in gameday.FaultRequest) (gameday.Undo, error) {
		s.undone = append(s.undone, in.Token)
		s.in--
		return gameday.Undo{Removed: true, Verified: true}, nil
	})
	onActivity(env, activityref.WriteGameDayReport, func(_ context.Context, in gameday.ReportRequest) (gameday.ReportFiles, error) {
		return gameday.ReportFiles{PNG: "/reports/" + in.WorkflowID + ".png", SVG: "/reports/" + in.WorkflowID + ".svg"}, nil
	})
	onActivityNoResult(env, activityref.NotifyChat, func(_ context.Context, n gameday.Notice) error {
		s.notices = append(s.notices, n.Text)
		return nil
	})
	env.OnWorkflow("Approval", mock.Anything, mock.Anything).Return(func(_ workflow.Context, raw converter.RawValue) (ApprovalStatus, error) {
		return ApprovalStatus{Status: s.decision, ClosedBy: "erin", Reason: "game day on"}, nil
	})
	if during != nil {
		during(env)
	}
	env.ExecuteWorkflow("GameDay", GameDayInput{Spec: spec, Requester: "dave"})
	var res GameDayResult
	err := env.GetWorkflowError()
	if err == nil {
		err = env.GetWorkflowResult(&res)
	}
	return res, err
}

func latencySpec() gameday.Experiment {
	return gameday.Experiment{
		Title: "app keeps p95 under 500ms with 300ms added", ProbeInterval: "5s", RecoveryTimeout: "1m",
		Approval: &gameday.Approval{Groups: []string{"sre"}},
		SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "app-latency", Kind: gameday.ProbeHTTP,
			HTTP: &gameday.HTTPProbe{URL: "http://127.0.0.1:18080/", Percentile: 95, MaxLatency: "500ms"}}}},
		Method: []gameday.Fault{{Name: "slow-app", Kind: gameday.FaultLatency, Duration: "2m",
			Toxic: &gameday.Toxic{Proxy: "app", Latency: "300ms"}}},
		Abort: []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Probe: "app-latency", Count: 2}},
	}
}

// A fault that breaks the hypothesis is caught within two probe intervals,
// undone, and the steady state returns; the report has the times.
func TestGameDayAbortsOnABreachAndRollsBack(t *testing.T) {
	s := &gameDayScript{broken: func(phase string, in, _ int) bool { return in > 0 }}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayAborted || res.HypothesisHeld || !strings.Contains(res.Reason, "app-latency failed 2 rounds in a row") {
		t.Errorf("outcome %q (%s), want aborted after 2 failed rounds", res.Outcome, res.Reason)
	}
	if len(s.injected) != 1 || len(s.undone) != 1 || s.injected[0] != s.undone[0] || !strings.HasPrefix(s.injected[0], "gameday-") {
		t.Errorf("injected %v, undone %v: want the one fault in and out under the same token", s.injected, s.undone)
	}
	detect := res.DetectedAt.Sub(res.InjectedAt)
	if detect <= 0 || detect > 2*5*time.Second {
		t.Errorf("detected %s after injection, want within two 5s probe intervals", detect)
	}
	if res.RolledBackAt.Before(res.DetectedAt) || res.RecoveredAt.Before(res.RolledBackAt) || res.TimeToRecover == "" || res.TimeToDetect == "" {
		t.Errorf("times: injected %s detected %s rolled back %s recovered %s", res.InjectedAt, res.DetectedAt, res.RolledBackAt, res.RecoveredAt)
	}
	f := res.Faults[0]
	if f.Undo == nil || !f.Undo.Verified || f.UndoneAt.IsZero() {
		t.Errorf("fault record %+v, want a verified undo", f)
	}
	if res.Plot == nil || len(s.notices) != 1 || !strings.Contains(s.notices[0], "aborted") {
		t.Errorf("plot %v, notices %v: want a plot and the outcome posted", res.Plot, s.notices)
	}
}

// A hypothesis that holds through the method and recovers at once scores 100.
func TestGameDayThatHoldsRunsTheWholeMethodAndUndoesAtItsEnd(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayHeld || !res.HypothesisHeld || res.Score != 100 {
		t.Errorf("outcome %q held %v score %d, want held, 100", res.Outcome, res.HypothesisHeld, res.Score)
	}
	f := res.Faults[0]
	if in := f.UndoneAt.Sub(f.InjectedAt); in != 2*time.Minute {
		t.Errorf("the fault was in for %s, want its 2m", in)
	}
	method := 0
	for _, r := range res.Timeline {
		if r.Phase == "method" {
			method++
		}
	}
	if method < 20 || method > 26 {
		t.Errorf("%d probe rounds over a 2m method at 5s, want about 24", method)
	}
}

// A system already failing its probes gets no fault.
func TestGameDayOnAnUnsteadySystemInjectsNothing(t *testing.T) {
	s := &gameDayScript{broken: func(phase string, _, _ int) bool { return phase == "before" }}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayNotSteady || len(s.injected) != 0 || len(s.undone) != 0 {
		t.Errorf("outcome %q, injected %v: want not-steady and no fault", res.Outcome, s.injected)
	}
}

// A target out of reach before any fault (an API server restarting) is
// waited for: the game day goes on once it answers.
func TestGameDayWaitsForATargetOutOfReachBeforeAnyFault(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }, unreachableBefore: 4}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayHeld || len(s.injected) != 1 || s.unreachableBefore != 0 {
		t.Errorf("outcome %q (%s), injected %v, %d unreachable rounds left: want held after the target came back", res.Outcome, res.Reason, s.injected, s.unreachableBefore)
	}
	if first := res.Timeline[0]; first.Phase != gameday.PhaseBefore || !first.OK {
		t.Errorf("first round in the timeline %+v, want the measured baseline", first)
	}
}

// A target that stays out of reach is, in the end, not steady: with no
// fault injected, and the report says the probe could not measure.
func TestGameDayGivesUpOnATargetThatStaysOutOfReach(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }, unreachableBefore: 1000}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayNotSteady || len(s.injected) != 0 || !strings.Contains(res.Reason, "app-latency: could not measure: connection refused") {
		t.Errorf("outcome %q (%s), injected %v: want not-steady, nothing injected, the probe named", res.Outcome, res.Reason, s.injected)
	}
	if attempts := 1000 - s.unreachableBefore; attempts != 9 {
		t.Errorf("%d attempts at the baseline, want 9", attempts)
	}
	if len(res.Timeline) != 1 || res.Timeline[0].OK || !res.Timeline[0].Results[0].Unmeasured {
		t.Errorf("timeline %+v, want the last unmeasured round", res.Timeline)
	}
}

// A rejected game day breaks nothing.
func TestRejectedGameDayBreaksNothing(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }, decision: ApprovalRejected}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil || res.Outcome != GameDayRejected || len(s.injected) != 0 {
		t.Errorf("%+v %v, injected %v: want rejected, nothing injected", res.Outcome, err, s.injected)
	}
}

// Cancelled while the fault is in: the rollback still runs.
func TestCancelledGameDayStillUndoesItsFault(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }}
	_, err := s.run(t, latencySpec(), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Second)
	})
	if !temporal.IsCanceledError(err) {
		t.Fatalf("error %v, want cancelled", err)
	}
	if len(s.injected) != 1 || len(s.undone) != 1 {
		t.Errorf("injected %v, undone %v: want the fault undone after the cancel", s.injected, s.undone)
	}
}

// A system that does not come back in time gets its remediation, and chat
// hears that people are needed when even that does not help.
func TestGameDayRemediatesAndCallsPeopleWhenTheSystemStaysDown(t *testing.T) {
	spec := latencySpec()
	spec.Abort = nil
	spec.Method[0].Duration = "10s"
	spec.Remediation = []gameday.Action{{Name: "tell-sre", Kind: gameday.ActionNotify, Message: "web is still slow: look at it"}}
	s := &gameDayScript{broken: func(phase string, in, _ int) bool { return phase != "before" }}
	res, err := s.run(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayNotHeld || !res.PeopleNeeded || len(res.Remediation) != 1 || res.Remediation[0].Status != "done" || res.Score != 0 {
		t.Errorf("outcome %q people %v remediation %+v score %d", res.Outcome, res.PeopleNeeded, res.Remediation, res.Score)
	}
	if !strings.HasSuffix(res.Reason, "; nor after the remediation (tell-sre done)") {
		t.Errorf("reason %q, want it to say the remediation did not bring the steady state back", res.Reason)
	}
	if len(s.notices) != 2 || s.notices[0] != "web is still slow: look at it" || !strings.Contains(s.notices[1], "People are needed") {
		t.Errorf("notices %q, want the remediation's, then the outcome asking for people", s.notices)
	}
}

// Remediation that brings the system back: not held (it needed help), but
// recovered, at half the score.
func TestGameDayRecoveredByRemediationScoresHalf(t *testing.T) {
	spec := latencySpec()
	spec.Abort = nil
	spec.Method[0].Duration = "10s"
	spec.RecoveryTimeout = "20s"
	spec.Remediation = []gameday.Action{{Name: "tell-sre", Kind: gameday.ActionNotify, Message: "restarting"}}
	// Down through the method and the first recovery bound (5 rounds of 5s
	// over 20s), back after the remediation.
	s := &gameDayScript{broken: func(phase string, _, recovery int) bool {
		return phase == "method" || phase == "recovery" && recovery <= 5
	}}
	res, err := s.run(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != GameDayNotHeld || res.PeopleNeeded || res.RecoveredAt.IsZero() || res.Score != 0 {
		t.Errorf("outcome %q people %v recovered %s score %d", res.Outcome, res.PeopleNeeded, res.RecoveredAt, res.Score)
	}
	// Chat hears the reason: the remediation ran and the steady state came
	// back after it.
	if want := "the steady state did not return within 20s; it returned after the remediation (tell-sre done)"; res.Reason != want ||
		len(s.notices) != 2 || !strings.Contains(s.notices[1], want) {
		t.Errorf("reason %q, notices %q: want %q in both", res.Reason, s.notices, want)
	}
}

// Bad specs fail before any approval or fault, naming the field.
func TestGameDayRefusesABadSpecNamingTheField(t *testing.T) {
	spec := latencySpec()
	spec.Method[0].Kind = "latncy"
	s := &gameDayScript{broken: func(string, int, int) bool { return false }}
	_, err := s.run(t, spec, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput || !strings.Contains(appErr.Error(), "spec.method[0].kind") {
		t.Fatalf("error %v, want InvalidInput naming spec.method[0].kind", err)
	}
	if len(s.injected) != 0 {
		t.Errorf("injected %v despite bad input", s.injected)
	}
}

// A worker killed mid-game day and replaced by another shows in the report.
func TestGameDayRecordsAWorkerThatTookOver(t *testing.T) {
	s := &gameDayScript{broken: func(string, int, int) bool { return false }, switchAfter: 4}
	res, err := s.run(t, latencySpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Interrupted) != 1 || !strings.Contains(res.Interrupted[0], "worker 200@host took over from 100@host") {
		t.Errorf("interruptions %q, want the one takeover", res.Interrupted)
	}
	if len(s.undone) != 1 {
		t.Errorf("undone %v, want the fault undone", s.undone)
	}
}
