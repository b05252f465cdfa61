package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type report struct {
	Started    time.Time   `json:"started"`
	Seed       int64       `json:"seed"`
	KillFaultS float64     `json:"killFaultSeconds"`
	Timing     []timingRun `json:"timingRuns"`
	Kills      []killRun   `json:"killRuns"`
	// ChatPosts counts every post to the chat webhook (approval requests
	// and outcomes); ChatOutcomes the game days' outcome notices.
	ChatPosts    int `json:"chatPosts"`
	ChatOutcomes int `json:"chatOutcomes"`
}

// timeRow is one measured time against its target.
type timeRow struct {
	What    string  `json:"what"`
	TargetS float64 `json:"targetSeconds"`
	Target  string  `json:"target"`
	summary
}

// killTotals is the kill sweep's bottom line.
type killTotals struct {
	Runs          int `json:"runs"`
	CompletedOnce int `json:"completedOnce"`
	// FaultsLeftBehind counts toxics toxiproxy still listed after a run.
	FaultsLeftBehind int `json:"faultsLeftBehind"`
	UndosVerified    int `json:"undosVerified"`
	FaultsBegun      int `json:"faultsBegun"`
	KilledRunning    int `json:"killedWhileRunning"`
	// KilledInFaultWindow: between injection and rollback, where the report
	// must record the takeover; TakeoverRecorded: those whose report did.
	KilledInFaultWindow int `json:"killedInFaultWindow"`
	TakeoverRecorded    int `json:"takeoverRecorded"`
	// UnseenKills: killed while running, but outside the fault window, and
	// the report's interrupted is empty (see the markdown's note).
	UnseenKills      int `json:"unseenKills"`
	RunsWithProblems int `json:"runsWithProblems"`
}

func (r report) timeRows() []timeRow {
	var detect, rollback, recover []float64
	for _, t := range r.Timing {
		if len(t.Problems) == 0 {
			detect, rollback, recover = append(detect, t.DetectS), append(rollback, t.RollbackS), append(recover, t.RecoverS)
		}
	}
	return []timeRow{
		{What: "detection (injection → abort)", TargetS: detectTarget.Seconds(), Target: fmt.Sprintf("≤ 2 probe intervals (%s)", detectTarget), summary: summarize(detect)},
		{What: "rollback (abort → every fault undone)", TargetS: rollbackTarget.Seconds(), Target: fmt.Sprintf("≤ %s", rollbackTarget), summary: summarize(rollback)},
		{What: "recovery (rollback → steady state)", TargetS: recoverTarget.Seconds(), Target: fmt.Sprintf("≤ %s (the game day's bound; seeds: %s)", recoverTarget, seedsRecovery), summary: summarize(recover)},
	}
}

func (r report) killTotals() killTotals {
	t := killTotals{Runs: len(r.Kills)}
	for _, k := range r.Kills {
		if k.CompletedOnce {
			t.CompletedOnce++
		}
		t.FaultsLeftBehind += len(k.ToxicsLeft)
		t.UndosVerified += k.UndosVerified
		t.FaultsBegun += k.FaultsBegun
		if k.RunningAtKill {
			t.KilledRunning++
		}
		if k.FaultWindowAtKill {
			t.KilledInFaultWindow++
			if len(k.Interrupted) > 0 {
				t.TakeoverRecorded++
			}
		} else if k.RunningAtKill && len(k.Interrupted) == 0 {
			t.UnseenKills++
		}
		if len(k.Problems) > 0 {
			t.RunsWithProblems++
		}
	}
	return t
}

// problems lists every invariant that failed, by run.
func (r report) problems() []string {
	var out []string
	for _, t := range r.Timing {
		for _, p := range t.Problems {
			out = append(out, fmt.Sprintf("timing run %d: %s", t.Run, p))
		}
	}
	for _, k := range r.Kills {
		for _, p := range k.Problems {
			out = append(out, fmt.Sprintf("kill run %d: %s", k.Run, p))
		}
	}
	return out
}

func within(seconds, target float64) string {
	if seconds <= target {
		return "yes"
	}
	return "no"
}

func (r report) markdown() string {
	var md strings.Builder
	fmt.Fprintf(&md, "# Game day: detection, rollback, recovery, and a worker kill sweep\n\n%s, %d CPUs, %s. Platform: `worker --dev` (server, toxiproxy) polling an unused queue, and a separate worker process that runs the game days; target: an HTTP server in the benchmark behind the toxiproxy proxy %q, made with toxiproxy-cli. Game days started through the SDK, approved with `starter approve`.\n\n",
		r.Started.Format(time.RFC3339), runtime.NumCPU(), runtime.Version(), proxyName)
	fmt.Fprintf(&md, "## Timing runs\n\n%s latency on the proxy against a p95 of at most %s (3 requests a round), probes every %s, abort after %d failed rounds in a row, recovery bound %s. Times from the game day's report (the workflow's clock); p50 is the nearest rank.\n\n",
		faultLatency, sloLatency, probeInterval, abortAfter, recoveryBound)
	md.WriteString("| time | runs | p50 s | max s | target | p50 within | max within |\n|---|---|---|---|---|---|---|\n")
	for _, row := range r.timeRows() {
		if row.Runs == 0 {
			fmt.Fprintf(&md, "| %s | 0 | - | - | %s | - | - |\n", row.What, row.Target)
			continue
		}
		fmt.Fprintf(&md, "| %s | %d | %.3f | %.3f | %s | %s | %s |\n", row.What, row.Runs, row.P50S, row.MaxS, row.Target, within(row.P50S, row.TargetS), within(row.MaxS, row.TargetS))
	}
	md.WriteString("\n| run | outcome | detect s | rollback s | recover s | toxics left | undo verified |\n|---|---|---|---|---|---|---|\n")
	for _, t := range r.Timing {
		fmt.Fprintf(&md, "| %d | %s | %.3f | %.3f | %.3f | %d | %t |\n", t.Run, t.Outcome, t.DetectS, t.RollbackS, t.RecoverS, len(t.ToxicsLeft), t.UndoVerified)
	}

	tot := r.killTotals()
	fmt.Fprintf(&md, "\n## Kill sweep\n\nSeed %d (`--seed %d` repeats it). Each run: a %.0f s latency fault that does not abort; the worker is SIGKILLed at a uniform moment of the fault's length after the approval (the fault goes in one steady-state round after it), its phase read with the `progress` query just before, and started again 1–3 s later.\n\n",
		r.Seed, r.Seed, r.KillFaultS)
	md.WriteString("| run | kill at s | phase at kill | running | restart after s | executions | outcome | done after kill s | toxics left | verified undo | interrupted |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range r.Kills {
		interrupted := "none"
		if len(k.Interrupted) > 0 {
			interrupted = fmt.Sprintf("%d: %s", len(k.Interrupted), k.Interrupted[0])
		}
		doneAfter := fmt.Sprintf("%.1f", k.DoneAfterKillS)
		if !k.RunningAtKill {
			doneAfter = "closed before"
		}
		fmt.Fprintf(&md, "| %d | %.1f | %s | %t | %.1f | %s | %s | %s | %d | %d/%d | %s |\n", k.Run, k.KillAtS, k.PhaseAtKill, k.RunningAtKill,
			k.RestartAfterS, strings.Join(k.Runs, ", "), k.Outcome, doneAfter, len(k.ToxicsLeft), k.UndosVerified, k.FaultsBegun, interrupted)
	}
	fmt.Fprintf(&md, "\nRuns %d; completed exactly once %d; **faults left behind %d**; verified undos %d of %d faults begun; killed while running %d, of them between injection and rollback %d (takeover recorded in `interrupted`: %d).\n",
		tot.Runs, tot.CompletedOnce, tot.FaultsLeftBehind, tot.UndosVerified, tot.FaultsBegun, tot.KilledRunning, tot.KilledInFaultWindow, tot.TakeoverRecorded)
	if tot.UnseenKills > 0 {
		fmt.Fprintf(&md, "\n%d kill(s) landed while the workflow ran but outside the fault window, and its `interrupted` is empty: the report notices a takeover only when an activity result names a worker other than the last one, and none follows a kill during the first steady-state round (no worker named yet) or during the closing plot and chat notice.\n", tot.UnseenKills)
	}
	fmt.Fprintf(&md, "\nChat webhook: %d posts, %d of them game-day outcome notices (%d game days).\n", r.ChatPosts, r.ChatOutcomes, len(r.Timing)+len(r.Kills))
	if p := r.problems(); len(p) > 0 {
		md.WriteString("\n## Invariants that failed\n\n- " + strings.Join(p, "\n- ") + "\n")
	}
	return md.String()
}

// write prints the report, stores it as markdown and JSON, and fails when
// an invariant did.
func (r report) write(outDir string) error {
	md := r.markdown()
	fmt.Print("\n" + md)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(map[string]any{"report": r, "times": r.timeRows(), "killTotals": r.killTotals(), "problems": r.problems()}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "gameday.json"), raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "gameday.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if p := r.problems(); len(p) > 0 {
		return fmt.Errorf("%d invariant(s) failed (faults left behind: %d):\n  %s", len(p), r.killTotals().FaultsLeftBehind, strings.Join(p, "\n  "))
	}
	return nil
}
