package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/gameday"
)

// runMethod injects each fault when its start comes, undoes each one when
// its duration is over, and probes at every interval until the
// method's end or an abort condition.
func (g *gameDayRun) runMethod(ctx workflow.Context) error {
	spec := g.spec
	g.result.Faults = make([]GameDayFault, len(spec.Method))
	g.attempted = make([]bool, len(spec.Method))
	for i, f := range spec.Method {
		g.result.Faults[i] = GameDayFault{Name: f.ID(), Kind: f.Kind, Token: g.token(f), Description: f.Describe()}
	}
	interval := spec.ProbeInterval.Value()
	fixedRate := workflow.GetVersion(ctx, fixedRateProbesChange, workflow.DefaultVersion, 1) == 1
	start := workflow.Now(ctx)
	length := spec.MethodLength()
	for {
		elapsed := workflow.Now(ctx).Sub(start)
		for i, f := range spec.Method {
			if !g.attempted[i] && f.Start.Value() <= elapsed {
				if err := g.inject(ctx, i); err != nil {
					return err
				}
			}
		}
		for i, f := range spec.Method {
			// A fault with no undo of its own (pods deleted, a process
			// killed) is still closed: its record of what it touched goes.
			if g.attempted[i] && g.result.Faults[i].UndoneAt.IsZero() && f.End() <= elapsed {
				if err := g.undo(ctx, i); err != nil {
					return err
				}
			}
		}
		if elapsed >= length {
			g.methodEnd = workflow.Now(ctx)
			return nil
		}
		g.progress.Phase = fmt.Sprintf("method: %s of %s", elapsed.Round(time.Second), length)
		roundStart := workflow.Now(ctx)
		if _, err := g.probe(ctx, "method"); err != nil {
			return err
		}
		if reason := g.abortReason(); reason != "" {
			g.aborted = reason
			g.result.DetectedAt = workflow.Now(ctx)
			g.result.TimeToDetect = since(g.result.InjectedAt, g.result.DetectedAt)
			g.methodEnd = g.result.DetectedAt
			return nil
		}
		untilNextRound := interval
		if fixedRate {
			untilNextRound -= workflow.Now(ctx).Sub(roundStart)
		}
		if err := workflow.Sleep(ctx, g.nextStep(workflow.Now(ctx).Sub(start), untilNextRound)); err != nil {
			return err
		}
	}
}

// fixedRateProbesChange marks the GameDay runs (version 1) whose method
// starts a probe round every probe interval, counted from the start of the
// last round: a round that takes time (slow answers are what a latency fault
// makes) no longer pushes the next one back, so an abort after N failed
// rounds comes within N intervals of the injection. Older runs waited a whole
// interval after each round ended, and replay so.
const fixedRateProbesChange = "gameday-fixed-rate-probes"

// nextStep is the time until the next probe round (untilNextRound) or fault
// start or end, whichever comes first.
func (g *gameDayRun) nextStep(elapsed, untilNextRound time.Duration) time.Duration {
	next := untilNextRound
	for i, f := range g.spec.Method {
		for _, at := range []time.Duration{f.Start.Value(), f.End()} {
			if at > elapsed && at-elapsed < next && (!g.attempted[i] || at == f.End()) {
				next = at - elapsed
			}
		}
	}
	return max(next, time.Millisecond)
}

// inject records the fault as attempted (so every rollback undoes it, even
// if this attempt is cut short) and injects it.
func (g *gameDayRun) inject(ctx workflow.Context, i int) error {
	f := g.spec.Method[i]
	rec := &g.result.Faults[i]
	g.attempted[i] = true
	g.progress.Phase = "injecting " + f.ID()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	rec.InjectedAt = workflow.Now(ctx)
	if g.result.InjectedAt.IsZero() {
		g.result.InjectedAt = rec.InjectedAt
	}
	injection, err := activityref.InjectFault.Run(actx, gameday.FaultRequest{Fault: f, Token: rec.Token, MaxBlastRadius: g.spec.MaxBlastRadius})
	if err != nil {
		rec.Error = err.Error()
		return fmt.Errorf("injecting %s: %w", f.ID(), err)
	}
	rec.Injection = &injection
	g.noteWorker(workflow.Now(ctx), injection.Worker)
	return nil
}

// undo takes one fault back. It keeps trying: a fault left in is the one
// outcome a game day must not have.
func (g *gameDayRun) undo(ctx workflow.Context, i int) error {
	f := g.spec.Method[i]
	rec := &g.result.Faults[i]
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 30 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second},
	})
	undo, err := activityref.UndoFault.Run(actx, gameday.FaultRequest{Fault: f, Token: rec.Token, MaxBlastRadius: g.spec.MaxBlastRadius})
	if err != nil {
		return fmt.Errorf("undoing %s: %w", f.ID(), err)
	}
	rec.Undo, rec.UndoneAt = &undo, workflow.Now(ctx)
	g.noteWorker(rec.UndoneAt, undo.Worker)
	return nil
}

// abortReason checks the abort conditions against the method's rounds.
func (g *gameDayRun) abortReason() string {
	var rounds []gameday.ProbeRound
	for _, r := range g.result.Timeline {
		if r.Phase == "method" {
			rounds = append(rounds, r)
		}
	}
	if len(rounds) == 0 {
		return ""
	}
	for _, c := range g.spec.Abort {
		which := "any probe"
		if c.Probe != "" {
			which = c.Probe
		}
		switch c.Kind {
		case gameday.AbortConsecutiveFailures:
			run := 0
			for k := len(rounds) - 1; k >= 0 && rounds[k].Failed(c.Probe); k-- {
				run++
			}
			if run >= c.Count {
				return fmt.Sprintf("%s failed %d rounds in a row (abort at %d): %s", which, run, c.Count, failedProbes(rounds[len(rounds)-1]))
			}
		case gameday.AbortErrorBudget:
			from := rounds[len(rounds)-1].At.Add(-c.Window.Value())
			failed, total := 0, 0
			for _, r := range rounds {
				if r.At.After(from) {
					total++
					if r.Failed(c.Probe) {
						failed++
					}
				}
			}
			if total > 0 && float64(failed)/float64(total) > c.Budget {
				return fmt.Sprintf("%s failed %d of %d rounds in the last %s, over the error budget of %g", which, failed, total, c.Window, c.Budget)
			}
		}
	}
	return ""
}
