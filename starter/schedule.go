package main

import (
	"errors"
	"fmt"
	"os"
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

// scalingScheduleCommand manages Schedules that start a ForecastScale tick
// every interval; `temporal schedule ...` sees and manages the same Schedules.
func (a *app) scalingScheduleCommand() *cobra.Command {
	def, _ := workflows.Lookup("ForecastScale")
	cmd := &cobra.Command{Use: "scaling", Short: "Schedules of forecast-and-scale ticks (ForecastScale every interval)"}

	var input string
	var every time.Duration
	var paused bool
	create := &cobra.Command{
		Use:     "create SCHEDULE-ID",
		Short:   "Create a Schedule that starts ForecastScale every interval with the given input",
		Example: fmt.Sprintf("  starter schedule scaling create web-scaling --every 10s --input '%s'\n  starter schedule scaling create web-scaling --every 1m --input @scaling.json", def.Example),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := launch.ReadInput(input)
			if err != nil {
				return err
			}
			if err := def.CheckInput(raw); err != nil {
				return fmt.Errorf("invalid input for %s: %w", def.Name, err)
			}
			if every < time.Second {
				return fmt.Errorf("--every %s: use at least 1s", every)
			}
			c, _, err := a.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ScheduleClient().Create(cmd.Context(), client.ScheduleOptions{
				ID:   args[0],
				Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
				Action: &client.ScheduleWorkflowAction{
					ID:        args[0] + "-tick",
					Workflow:  def.Name,
					Args:      []any{raw},
					TaskQueue: a.taskQueue,
					// A tick that runs long (waiting for approval) is never
					// overlapped by the next: it is skipped instead.
					WorkflowRunTimeout: 30 * time.Minute,
				},
				Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
				Paused:  paused,
				Note:    "created by starter schedule scaling create",
			})
			if err != nil {
				return fmt.Errorf("creating schedule %s: %w", args[0], err)
			}
			fmt.Printf("schedule %s: ForecastScale every %s on task queue %s%s\n", args[0], every, a.taskQueue, map[bool]string{true: " (paused)"}[paused])
			fmt.Printf("  ticks:  temporal workflow list --query \"WorkflowType = 'ForecastScale' AND TemporalScheduledById = '%s'\"\n", args[0])
			return nil
		},
	}
	create.Flags().StringVarP(&input, "input", "i", "", "ForecastScale input JSON, inline or @file (@- for stdin)")
	create.Flags().DurationVar(&every, "every", 30*time.Second, "interval between ticks")
	create.Flags().BoolVar(&paused, "paused", false, "create the schedule paused")
	_ = create.MarkFlagRequired("input")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the Schedules that start ForecastScale",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			iter, err := c.ScheduleClient().List(cmd.Context(), client.ScheduleListOptions{PageSize: 100})
			if err != nil {
				return fmt.Errorf("listing schedules: %w", err)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEDULE ID\tEVERY\tSTATE\tNEXT\tLAST TICK")
			for iter.HasNext() {
				e, err := iter.Next()
				if err != nil {
					return fmt.Errorf("listing schedules: %w", err)
				}
				if e.WorkflowType.Name != def.Name {
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
				c, _, err := a.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				h := c.ScheduleClient().GetHandle(cmd.Context(), args[0])
				d, err := h.Describe(cmd.Context())
				var notFound *serviceerror.NotFound
				if errors.As(err, &notFound) {
					return fmt.Errorf("no schedule %s (starter schedule scaling list)", args[0])
				}
				if err != nil {
					return fmt.Errorf("schedule %s: %w", args[0], err)
				}
				if wa, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || wa.Workflow != def.Name {
					return fmt.Errorf("schedule %s does not start %s; manage it with `temporal schedule`", args[0], def.Name)
				}
				if err := do(cmd, h); err != nil {
					return fmt.Errorf("%s schedule %s: %w", use, args[0], err)
				}
				fmt.Printf("schedule %s: %sd\n", args[0], use)
				return nil
			},
		}
	}
	var note string
	pause := handle("pause", "Pause a scaling Schedule (no ticks until unpaused)", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note})
	})
	pause.Flags().StringVar(&note, "note", "paused by starter", "why, shown by temporal schedule describe")
	unpause := handle("unpause", "Resume a paused scaling Schedule", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: "unpaused by starter"})
	})
	del := handle("delete", "Delete a scaling Schedule (running ticks finish)", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		return h.Delete(cmd.Context())
	})
	cmd.AddCommand(create, list, pause, unpause, del)
	return cmd
}
