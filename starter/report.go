package main

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

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/scalereport"
	"github.com/infraflow/infraflow/workflows"
)

// reportCommand groups reports drawn from what workflows recorded.
func (a *app) reportCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports drawn from what infraflow's workflows recorded"}
	cmd.AddCommand(a.scalingReportCommand())
	return cmd
}

// scalingWorkflow is the workflow whose ticks the scaling report reads.
const scalingWorkflow = "ForecastScale"

// scalingReportCommand plots and tabulates the ticks of a forecast-and-scale
// loop: every completed run of a Schedule, or one run.
func (a *app) scalingReportCommand() *cobra.Command {
	var out string
	var last, width, height int
	cmd := &cobra.Command{
		Use:   "scaling SCHEDULE-OR-WORKFLOW-ID",
		Short: "Plot demand, forecast with its interval, and replicas over a scaling loop's ticks (PNG + SVG), and print them as a table",
		Long: `Reads the results of ForecastScale runs through the same data converter as the worker
(payloads encrypted by the codec are decrypted with your keys) and writes <out>.png and
<out>.svg: demand, the forecast drawn at the time it forecast with its prediction interval
shaded, the replicas after each tick and what each tick decided, with runs of held ticks
shaded. The table (one row per tick, oldest first) goes to stdout.

Given a Schedule ID, it reads the Schedule's completed runs (visibility query
TemporalScheduledById = '<id>'), also after the Schedule was deleted, while its runs are
retained. Given the workflow ID of one ForecastScale run, it reports that tick (a run still
going on is read through its record query).`,
		Example: `  starter report scaling web-scaling      # scaling-web-scaling.png and .svg, and a table
  starter report scaling web-scaling --out /tmp/web --last 100
  starter report scaling scale-web-once   # one tick started by hand`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if last < 0 {
				return fmt.Errorf("--last %d: give how many of the most recent ticks to report, or 0 for all", last)
			}
			if out == "" {
				out = "scaling-" + fileSafe(id)
			}
			c, namespace, err := a.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ticks, source, err := scalingTicks(cmd.Context(), c, namespace, id, last)
			if err != nil {
				return err
			}
			rows := scalereport.Rows(ticks)
			title := scalingWorkflow + " " + id
			if targets := targetsOf(rows); targets != "" {
				title += ": " + targets
			}
			figure := scalereport.Chart(title, rows)
			figure.Width, figure.Height = width, height
			files, err := figure.Write(out)
			if err != nil {
				return fmt.Errorf("drawing the scaling report of %s (--out %s): %w", id, out, err)
			}
			if err := scalereport.WriteTable(os.Stdout, rows); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s\nplot: %s\n      %s\n", source, files.PNG, files.SVG)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write <out>.png and <out>.svg (default scaling-<id> in the current directory)")
	cmd.Flags().IntVar(&last, "last", 500, "report the most recent N ticks of a Schedule (0: all)")
	cmd.Flags().IntVar(&width, "width", 0, "image width in pixels (default 1200)")
	cmd.Flags().IntVar(&height, "height", 0, "image height in pixels (default 720)")
	return cmd
}

// scalingTicks finds what id names, a scaling Schedule (existing or deleted)
// or one ForecastScale run, and reads its ticks; source says what was read.
func scalingTicks(ctx context.Context, c client.Client, namespace, id string, last int) ([]scalereport.Tick, string, error) {
	desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || fmt.Sprint(action.Workflow) != scalingWorkflow {
			return nil, "", fmt.Errorf("schedule %s does not start %s: pass the ID of a scaling Schedule (starter schedule scaling list) or of one %s run", id, scalingWorkflow, scalingWorkflow)
		}
	case !errors.As(err, &notFound):
		return nil, "", fmt.Errorf("looking up schedule %s: %w", id, err)
	}
	scheduleExists := err == nil

	runs, err := scheduledRuns(ctx, c, namespace, id)
	if err != nil {
		return nil, "", err
	}
	if scheduleExists || len(runs) > 0 {
		return scheduleTicks(ctx, c, id, runs, scheduleExists, last)
	}
	return oneRunTick(ctx, c, namespace, id)
}

// run is one execution visibility listed.
type run struct {
	id, runID, workflowType string
	status                  enumspb.WorkflowExecutionStatus
	start                   time.Time
}

// quoteFree is what a visibility string literal can hold without escaping
// rules the query language leaves unspecified.
var quoteFree = regexp.MustCompile(`^[^'"\\]+$`)

// scheduledRuns lists every run a Schedule started, oldest first. Runs stay
// listed after the Schedule is deleted, for the namespace's retention.
func scheduledRuns(ctx context.Context, c client.Client, namespace, schedule string) ([]run, error) {
	if !quoteFree.MatchString(schedule) {
		return nil, nil // no Schedule has such an ID; it may still be a workflow's
	}
	query := fmt.Sprintf("TemporalScheduledById = '%s'", schedule)
	var runs []run
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return nil, fmt.Errorf("listing the runs of schedule %s (query %q): %w", schedule, query, err)
		}
		for _, e := range resp.GetExecutions() {
			runs = append(runs, run{id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId(),
				workflowType: e.GetType().GetName(), status: e.GetStatus(), start: e.GetStartTime().AsTime()})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(runs, func(a, b run) int { return a.start.Compare(b.start) })
	return runs, nil
}

// fetchers bounds the results read at once: enough to hide a remote
// cluster's round trips, few enough not to crowd the frontend.
const fetchers = 8

// scheduleTicks reads the results of the completed runs (the last ones when
// limited) and says how many runs it left out and why.
func scheduleTicks(ctx context.Context, c client.Client, id string, runs []run, exists bool, last int) ([]scalereport.Tick, string, error) {
	var completed []run
	running, unfinished := 0, 0
	for _, r := range runs {
		if r.workflowType != scalingWorkflow {
			return nil, "", fmt.Errorf("schedule %s started %s runs (%s), not %s: pass the ID of a scaling Schedule (starter schedule scaling list) or of one %s run",
				id, r.workflowType, r.id, scalingWorkflow, scalingWorkflow)
		}
		switch r.status {
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			completed = append(completed, r)
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			running++
		default:
			unfinished++
		}
	}
	if len(completed) == 0 {
		what := "schedule " + id
		if !exists {
			what += " (deleted)"
		}
		return nil, "", fmt.Errorf("%s has no completed %s runs yet (%d running, %d failed, timed out or terminated): wait for its first tick to finish and ask again",
			what, scalingWorkflow, running, unfinished)
	}
	leftOut := 0
	if last > 0 && len(completed) > last {
		leftOut = len(completed) - last
		completed = completed[leftOut:]
	}

	ticks := make([]scalereport.Tick, len(completed))
	errs := make([]error, len(completed))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(fetchers, len(completed)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := completed[i]
				var res workflows.ForecastScaleResult
				if err := c.GetWorkflow(ctx, r.id, r.runID).Get(ctx, &res); err != nil {
					errs[i] = fmt.Errorf("reading the result of %s (run %s) of schedule %s: %w", r.id, r.runID, id, err)
					continue
				}
				ticks[i] = scalereport.Tick{WorkflowID: r.id, RunID: r.runID, Record: res.Tick}
			}
		}()
	}
	for i := range completed {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}

	source := fmt.Sprintf("schedule %s: %d completed ticks", id, len(completed))
	if !exists {
		source = fmt.Sprintf("schedule %s (deleted; its runs are still retained): %d completed ticks", id, len(completed))
	}
	var notes []string
	if leftOut > 0 {
		notes = append(notes, fmt.Sprintf("%d older left out (--last %d; --last 0 for all)", leftOut, last))
	}
	if running > 0 {
		notes = append(notes, fmt.Sprintf("%d running", running))
	}
	if unfinished > 0 {
		notes = append(notes, fmt.Sprintf("%d failed, timed out or terminated without a tick", unfinished))
	}
	if len(notes) > 0 {
		source += " (" + strings.Join(notes, "; ") + ")"
	}
	return ticks, source, nil
}

// oneRunTick reads one ForecastScale run: its result when it completed, its
// record query while it is still going on.
func oneRunTick(ctx context.Context, c client.Client, namespace, id string) ([]scalereport.Tick, string, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, "", fmt.Errorf("%q is neither a Schedule nor a workflow in namespace %s: pass the ID of a Schedule that starts %s (starter schedule scaling list) "+
			"or the workflow ID of one %s run (temporal workflow list --query \"WorkflowType = '%s'\")", id, namespace, scalingWorkflow, scalingWorkflow, scalingWorkflow)
	}
	if err != nil {
		return nil, "", fmt.Errorf("looking up workflow %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if kind := info.GetType().GetName(); kind != scalingWorkflow {
		return nil, "", fmt.Errorf("workflow %s is a %s run, not %s: pass the ID of a scaling Schedule (starter schedule scaling list) or of one %s run",
			id, kind, scalingWorkflow, scalingWorkflow)
	}
	runID := info.GetExecution().GetRunId()
	switch status := info.GetStatus(); status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.ForecastScaleResult
		if err := c.GetWorkflow(ctx, id, runID).Get(ctx, &res); err != nil {
			return nil, "", fmt.Errorf("reading the result of %s (run %s): %w", id, runID, err)
		}
		return []scalereport.Tick{{WorkflowID: id, RunID: runID, Record: res.Tick}}, fmt.Sprintf("workflow %s: 1 completed tick", id), nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		v, err := c.QueryWorkflow(ctx, id, runID, workflows.ScaleRecordQuery)
		if err != nil {
			return nil, "", fmt.Errorf("workflow %s is still running and its %s query failed (is a worker polling?): %w", id, workflows.ScaleRecordQuery, err)
		}
		var tick workflows.ScaleTick
		if err := v.Get(&tick); err != nil {
			return nil, "", fmt.Errorf("reading the %s query of %s: %w", workflows.ScaleRecordQuery, id, err)
		}
		return []scalereport.Tick{{WorkflowID: id, RunID: runID, Record: tick, Running: true}}, fmt.Sprintf("workflow %s: 1 tick, still running", id), nil
	default:
		return nil, "", fmt.Errorf("workflow %s ended %s and recorded no tick: temporal workflow show --workflow-id %s says why",
			id, statusWord(status), id)
	}
}

// targetsOf names what the ticks scaled, for the chart's title.
func targetsOf(rows []scalereport.Row) string {
	var targets []string
	for _, r := range rows {
		if r.Target != "" && !slices.Contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
	}
	return strings.Join(targets, ", ")
}

var unsafeInFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileSafe makes an ID usable as a file name.
func fileSafe(id string) string {
	return unsafeInFileName.ReplaceAllString(id, "-")
}
