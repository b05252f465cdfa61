package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// readGameDay reads a GameDay run: its result when it completed, otherwise
// its gameday query, which a closed run answers too (a worker replays its
// history), so a cancelled game day still shows its rollbacks. source says
// what was read.
func readGameDay(ctx context.Context, c client.Client, namespace string, def workflows.Definition, id string) (workflows.GameDayResult, string, error) {
	var res workflows.GameDayResult
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return res, "", fmt.Errorf("no workflow %q in namespace %s: pass the workflow ID of a game day (starter gameday run prints it; "+
			"temporal workflow list --query \"WorkflowType = '%s'\" lists them)", id, namespace, def.Name)
	}
	if err != nil {
		return res, "", fmt.Errorf("looking up workflow %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if kind := info.GetType().GetName(); kind != def.Name {
		return res, "", fmt.Errorf("workflow %s is a %s run, not a game day: pass the workflow ID of a %s run", id, kind, def.Name)
	}
	runID := info.GetExecution().GetRunId()
	status := info.GetStatus()
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := c.GetWorkflow(ctx, id, runID).Get(ctx, &res); err != nil {
			return res, "", fmt.Errorf("reading the result of game day %s (run %s): %w", id, runID, err)
		}
		return res, fmt.Sprintf("game day %s (run %s): completed", id, runID), nil
	}
	state := "still running"
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		state = "ended " + statusWord(status) + " without a result"
	}
	v, err := c.QueryWorkflow(ctx, id, runID, workflows.GameDayQuery)
	if err != nil {
		return res, "", fmt.Errorf("game day %s is %s and its %s query failed (a worker answers it, also for a closed run: is one polling?): %w; "+
			"temporal workflow show --workflow-id %s shows its history", id, state, workflows.GameDayQuery, err, id)
	}
	if err := v.Get(&res); err != nil {
		return res, "", fmt.Errorf("reading the %s query of game day %s: %w", workflows.GameDayQuery, id, err)
	}
	return res, fmt.Sprintf("game day %s (run %s): %s; read through its %s query", id, runID, state, workflows.GameDayQuery), nil
}

// statusWord is a workflow status as a person says it: "canceled", "timed_out".
func statusWord(status enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// clock is how the report shows a time of day: probe rounds are seconds
// apart, and detection takes milliseconds.
const clock = "15:04:05.000"

// writeGameDayReport prints the report: a summary, then the faults,
// rollbacks and remediation, then one line per probe round. Times are UTC,
// as the worker's plot shows them.
func writeGameDayReport(w io.Writer, id string, res workflows.GameDayResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, value) }
	field("game day:", id+": "+res.Title)
	outcome := res.Outcome
	switch {
	case outcome == "":
		outcome = "none yet: the game day is still going on"
	case res.Reason != "":
		outcome += " — " + oneLine(res.Reason)
	}
	field("outcome:", outcome)
	field("hypothesis held:", yesNo(res.HypothesisHeld))
	field("score:", fmt.Sprintf("%d/100", res.Score))
	field("approval:", approvalLine(res.Approval))
	if !res.InjectedAt.IsZero() {
		field("first fault:", res.InjectedAt.UTC().Format(time.DateTime+".000")+" UTC")
	}
	field("time to detect:", dash(res.TimeToDetect))
	field("time to roll back:", dash(res.TimeToRollBack))
	field("time to recover:", dash(res.TimeToRecover))
	if len(res.Interrupted) == 0 {
		field("interruptions:", "none")
	}
	for i, what := range res.Interrupted {
		name := ""
		if i == 0 {
			name = "interruptions:"
		}
		field(name, oneLine(what))
	}
	if res.PeopleNeeded {
		field("people needed:", "yes: the steady state has not returned, even after remediation")
	}
	if res.Plot != nil {
		field("plot on worker:", res.Plot.PNG)
		field("", res.Plot.SVG)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(res.Faults) == 0 {
		fmt.Fprintln(w, "faults: none injected")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FAULT\tKIND\tINJECTED (UTC)\tUNDONE (UTC)\tVERIFIED\tDETAIL")
		for _, f := range res.Faults {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.Kind, timeOfDay(f.InjectedAt), timeOfDay(f.UndoneAt), verified(f), faultDetail(f))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, section := range []struct {
		title   string
		actions []workflows.GameDayAction
	}{{"ROLLBACK", res.Rollbacks}, {"REMEDIATION", res.Remediation}} {
		if len(section.actions) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tKIND\tSTATUS\tDETAIL\n", section.title)
		for _, a := range section.actions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.Kind, a.Status, dash(oneLine(a.Detail)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	if len(res.Timeline) == 0 {
		fmt.Fprintln(w, "timeline: no probe rounds yet")
		return nil
	}
	return writeTimeline(w, res.Timeline, res.FaultWindows())
}

// writeTimeline is one line per probe round: its time, phase, whether it
// held, the faults in at the time, and each probe's value and verdict.
func writeTimeline(w io.Writer, rounds []gameday.ProbeRound, faults []gameday.FaultWindow) error {
	var probes []string
	seen := map[string]bool{}
	for _, r := range rounds {
		for _, p := range r.Results {
			if !seen[p.Probe] {
				seen[p.Probe] = true
				probes = append(probes, p.Probe)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TIME (UTC)\tPHASE\tROUND\tFAULTS IN\t%s\n", strings.Join(probes, "\t"))
	for _, r := range rounds {
		var in []string
		for _, f := range faults {
			if !r.At.Before(f.Start) && (f.End.IsZero() || r.At.Before(f.End)) {
				in = append(in, f.Fault)
			}
		}
		cells := make([]string, len(probes))
		for i, name := range probes {
			cells[i] = "-"
			for _, p := range r.Results {
				if p.Probe == name {
					cells[i] = probeValue(p) + " " + okWord(p.OK)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(clock), r.Phase, okWord(r.OK), dash(strings.Join(in, ",")), strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// probeValue shows a measurement in its probe's unit: an HTTP probe measures
// a latency in seconds, shown as a duration; the others measure counts or a
// query's value.
func probeValue(p gameday.ProbeResult) string {
	if p.Kind != gameday.ProbeHTTP {
		return strconv.FormatFloat(p.Value, 'g', 4, 64)
	}
	d := time.Duration(p.Value * float64(time.Second))
	switch {
	case d >= 100*time.Millisecond:
		d = d.Round(time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(10 * time.Microsecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

func approvalLine(a workflows.ApprovalStatus) string {
	if a.Status == "" {
		return "-"
	}
	line := a.Status
	if a.ClosedBy != "" {
		line += " by " + a.ClosedBy
	}
	if a.Reason != "" {
		line += ": " + oneLine(a.Reason)
	}
	return line
}

func verified(f workflows.GameDayFault) string {
	switch {
	case f.Undo == nil:
		return "-"
	case f.Undo.Verified:
		return "yes"
	default:
		return "no"
	}
}

// faultDetail is what the fault did and what undoing it did, or why it
// failed; a fault that was never injected (a dry run) says what it would do.
func faultDetail(f workflows.GameDayFault) string {
	if f.Error != "" {
		return "failed: " + oneLine(f.Error)
	}
	var parts []string
	if f.Injection != nil && f.Injection.Detail != "" {
		parts = append(parts, f.Injection.Detail)
	}
	if f.Undo != nil && f.Undo.Detail != "" {
		parts = append(parts, "undone: "+f.Undo.Detail)
	}
	if len(parts) == 0 {
		return dash(oneLine(f.Description))
	}
	return oneLine(strings.Join(parts, "; "))
}

func timeOfDay(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(clock)
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a text on its row: a line break would split the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
