package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/launch"
	"github.com/infraflow/infraflow/workflows"
)

// scheduleCommand groups the Temporal Schedules that run infraflow's loops.
func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Manage the Temporal Schedules that run infraflow's periodic loops"}
	cmd.AddCommand(a.scalingScheduleCommand())
	return cmd
}

// workflowSchedules manages the Temporal Schedules that start one workflow
// every interval; `temporal schedule ...` sees and manages the same
// Schedules, and these commands leave the Schedules of other workflows alone.
type workflowSchedules struct {
	app *app
	def workflows.Definition
	// path is how a person reaches these commands, for messages that name
	// them ("schedule scaling").
	path string
	// kind and run say what the Schedules are and what one run is called
	// ("scaling" and "tick", "game day" and "game day").
	kind, run string
	// runID is the workflow ID of the Schedule's runs (Temporal adds the
	// time each starts).
	runID func(scheduleID string) string
	// runTimeout bounds a run; 0 leaves it unbounded.
	runTimeout time.Duration
}

// scalingScheduleCommand manages Schedules that start a ForecastScale tick
// every interval.
func (a *app) scalingScheduleCommand() *cobra.Command {
	def, _ := workflows.Lookup("ForecastScale")
	s := workflowSchedules{app: a, def: def, path: "schedule scaling", kind: "scaling", run: "tick",
		runID: func(id string) string { return id + "-tick" },
		// A tick still waiting for approval after this long is ended, and a
		// later tick decides again from fresh demand.
		runTimeout: 30 * time.Minute}
	cmd := &cobra.Command{Use: "scaling", Short: "Schedules of forecast-and-scale ticks (ForecastScale every interval)"}

	var input string
	create := s.createCommand(
		"Create a Schedule that starts ForecastScale every interval with the given input",
		fmt.Sprintf("  starter schedule scaling create web-scaling --every 10s --input '%s'\n  starter schedule scaling create web-scaling --every 1m --input @scaling.json", def.Example),
		30*time.Second,
		func(*cobra.Command) (json.RawMessage, error) { return launch.ReadInput(input) })
	create.Flags().StringVarP(&input, "input", "i", "", "ForecastScale input JSON, inline or @file (@- for stdin)")
	_ = create.MarkFlagRequired("input")
	cmd.AddCommand(create)
	cmd.AddCommand(s.manageCommands()...)
	return cmd
}

// createCommand is `create SCHEDULE-ID --every D [--paused]`; input reads the
// workflow input from the command's own flags.
func (s workflowSchedules) createCommand(short, example string, defaultEvery time.Duration,
	input func(cmd *cobra.Command) (json.RawMessage, error)) *cobra.Command {
	var every time.Duration
	var paused bool
	cmd := &cobra.Command{
		Use:     "create SCHEDULE-ID",
		Short:   short,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := input(cmd)
			if err != nil {
				return err
			}
			return s.create(cmd, args[0], raw, every, paused)
		},
	}
	flags := cmd.Flags()
	flags.DurationVar(&every, "every", defaultEvery, "interval between "+s.run+"s")
	flags.BoolVar(&paused, "paused", false, "create the schedule paused")
	return cmd
}

// create checks the input exactly as the workflow will, then creates the
// Schedule. A run still going on when the next is due (one waiting for
// approval) is never overlapped: the next is skipped.
func (s workflowSchedules) create(cmd *cobra.Command, id string, raw json.RawMessage, every time.Duration, paused bool) error {
	if err := s.def.CheckInput(raw); err != nil {
		return fmt.Errorf("invalid input for %s: %w", s.def.Name, err)
	}
	if every < time.Second {
		return fmt.Errorf("--every %s: use at least 1s", every)
	}
	c, _, err := s.app.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ScheduleClient().Create(cmd.Context(), client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID:                 s.runID(id),
			Workflow:           s.def.Name,
			Args:               []any{raw},
			TaskQueue:          s.app.taskQueue,
			WorkflowRunTimeout: s.runTimeout,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Paused:  paused,
		Note:    "created by starter " + s.path + " create",
	})
	if err != nil {
		return fmt.Errorf("creating schedule %s: %w", id, err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "schedule %s: %s every %s on task queue %s%s\n", id, s.def.Name, every, s.app.taskQueue, map[bool]string{true: " (paused)"}[paused])
	fmt.Fprintf(out, "  %ss:  temporal workflow list --query \"WorkflowType = '%s' AND TemporalScheduledById = '%s'\"\n", s.run, s.def.Name, id)
	return nil
}

// manageCommands are list, pause, unpause and delete.
func (s workflowSchedules) manageCommands() []*cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the Schedules that start " + s.def.Name,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := s.app.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			iter, err := c.ScheduleClient().List(cmd.Context(), client.ScheduleListOptions{PageSize: 100})
			if err != nil {
				return fmt.Errorf("listing schedules: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "SCHEDULE ID\tEVERY\tSTATE\tNEXT\tLAST %s\n", strings.ToUpper(s.run))
			for iter.HasNext() {
				e, err := iter.Next()
				if err != nil {
					return fmt.Errorf("listing schedules: %w", err)
				}
				if e.WorkflowType.Name != s.def.Name {
					continue
				}
				every, state, next, last := "", "running", "", ""
				if e.Spec != nil && len(e.Spec.Intervals) > 0 {
					every = e.Spec.Intervals[0].Every.String()
				}
				if e.Paused {
					state = "paused"
				}
				if len(e.NextActionTimes) > 0 {
					next = e.NextActionTimes[0].Local().Format(time.TimeOnly)
				}
				if n := len(e.RecentActions); n > 0 {
					last = e.RecentActions[n-1].StartWorkflowResult.WorkflowID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, every, state, next, last)
			}
			return tw.Flush()
		},
	}

	handle := func(use, short string, do func(cmd *cobra.Command, h client.ScheduleHandle) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " SCHEDULE-ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, _, err := s.app.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				h := c.ScheduleClient().GetHandle(cmd.Context(), args[0])
				d, err := h.Describe(cmd.Context())
				var notFound *serviceerror.NotFound
				if errors.As(err, &notFound) {
					return fmt.Errorf("no schedule %s (starter %s list)", args[0], s.path)
				}
				if err != nil {
					return fmt.Errorf("schedule %s: %w", args[0], err)
				}
				if wa, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || wa.Workflow != s.def.Name {
					return fmt.Errorf("schedule %s does not start %s; manage it with `temporal schedule`", args[0], s.def.Name)
				}
				if err := do(cmd, h); err != nil {
					return fmt.Errorf("%s schedule %s: %w", use, args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "schedule %s: %sd\n", args[0], use)
				return nil
			},
		}
	}
	var note string
	pause := handle("pause", fmt.Sprintf("Pause a %s Schedule (no %ss until unpaused)", s.kind, s.run), func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note})
	})
	pause.Flags().StringVar(&note, "note", "paused by starter", "why, shown by temporal schedule describe")
	unpause := handle("unpause", fmt.Sprintf("Resume a paused %s Schedule", s.kind), func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: "unpaused by starter"})
	})
	del := handle("delete", fmt.Sprintf("Delete a %s Schedule (running %ss finish)", s.kind, s.run), func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Delete(cmd.Context())
	})
	return []*cobra.Command{list, pause, unpause, del}
}
