package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/gamedayreport"
	"github.com/infraflow/infraflow/internal/launch"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
	"github.com/infraflow/infraflow/workflows"
)

// gameDayWorkflow is the workflow `starter gameday` starts, reads and schedules.
const gameDayWorkflow = "GameDay"

// gameDayCommand is `starter gameday run|report|schedule`.
func (a *app) gameDayCommand(def workflows.Definition) *cobra.Command {
	cmd := &cobra.Command{
		Use:   def.Command,
		Short: "Game days: start a chaos experiment from a spec file, read its report, run it on a Schedule",
		Long: `A game day runs an experiment spec (internal/gameday/SPEC.md, YAML or JSON): approval, the
steady state first, faults with continuous probes and abort conditions, rollbacks that always
run, recovery, and a report. The spec is checked before anything starts; every problem is
printed as file:line:column: field: problem; fix.`,
	}
	cmd.AddCommand(a.gameDayRunCommand(def), a.gameDayReportCommand(def), a.gameDayScheduleCommand(def))
	return cmd
}

func (a *app) gameDayRunCommand(def workflows.Definition) *cobra.Command {
	var file, id, requester, keyPath string
	var wait bool
	cmd := &cobra.Command{
		Use:   "run -f SPEC-FILE",
		Short: "Start a game day from a spec file, checked as the workflow will check it before anything starts",
		Long: `Reads the spec (YAML or JSON), prints every problem as file:line:column: field: problem; fix
and exits non-zero before contacting Temporal. A valid spec starts GameDay (workflow ID
gameday-<title>-<time> unless --id says otherwise), with the requester signed by your key when
it exists, and prints the approval to decide. --wait follows the game day to its end and prints
its report.`,
		Example: `  starter gameday run -f internal/gameday/examples/latency.yaml --requester dave
  starter gameday run -f latency.yaml --requester dave --id gameday-latency --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, raw, err := gameDayInputFromFile(cmd, def, file, requester)
			if err != nil {
				return err
			}
			if id == "" {
				id = gameDayID(spec.Title, time.Now())
			}
			if raw, id, err = signedInput(def, raw, id, keyPath); err != nil {
				return err
			}
			return a.launch(cmd, def, raw, id, func(c client.Client, run client.WorkflowRun) error {
				stderr := cmd.ErrOrStderr()
				if spec.Approval != nil {
					approval := workflows.ApprovalWorkflowID(run.GetID(), run.GetRunID())
					fmt.Fprintf(stderr, "  approval:    %s (open once a worker has picked the game day up; starter pending lists it)\n"+
						"  decide:      starter approve %s --as <approver> --reason \"<why>\"   (or reject, or from chat)\n", approval, approval)
				}
				fmt.Fprintf(stderr, "  report:      starter gameday report %s\n", run.GetID())
				if !wait {
					return nil
				}
				result, err := launch.Follow(cmd.Context(), c, run, stderr)
				if err != nil {
					return fmt.Errorf("game day %s ended without a report: %w; starter gameday report %s reads what it recorded", run.GetID(), err, run.GetID())
				}
				var res workflows.GameDayResult
				if err := json.Unmarshal(result, &res); err != nil {
					return fmt.Errorf("game day %s returned a result that is not a GameDayResult: %w", run.GetID(), err)
				}
				return writeGameDayReport(cmd.OutOrStdout(), run.GetID(), res)
			})
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&file, "file", "f", "", "the experiment spec, YAML or JSON (internal/gameday/SPEC.md)")
	flags.StringVar(&id, "id", "", "workflow ID (default gameday-<slug of the title>-<UTC time>)")
	flags.StringVar(&requester, "requester", "", "who asks for the game day (shown to approvers, who may not approve their own request)")
	flags.BoolVarP(&wait, "wait", "w", false, "follow the game day until it ends and print its report")
	flags.StringVar(&keyPath, "key", "", "sign the requester with this Ed25519 key (default $"+keyfile.Env+" or ~/.config/infraflow/id_ed25519, when it exists)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// gameDayInputFromFile reads and checks a spec file, then the GameDay input
// made of it, exactly as the workflow will check it. Problems are written
// to the command's error output as file:line:column: field: problem; fix,
// and the error says only that there were some: nothing has been contacted.
func gameDayInputFromFile(cmd *cobra.Command, def workflows.Definition, path, requester string) (gameday.Experiment, json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return gameday.Experiment{}, nil, fmt.Errorf("-f: %w", err)
	}
	spec, err := gameday.Parse(data)
	var problems gameday.Errors
	switch {
	case errors.As(err, &problems):
		fmt.Fprint(cmd.ErrOrStderr(), problems.Format(path))
		return spec, nil, specRefused(path, len(problems))
	case err != nil:
		return spec, nil, fmt.Errorf("%s: %w", path, err)
	}
	raw, err := json.Marshal(workflows.GameDayInput{Spec: spec, Requester: requester})
	if err != nil {
		return spec, nil, err
	}
	// The workflow checks more than the spec alone (how many probe rounds
	// the history can hold, the inputs of the actions it starts); its
	// problems name spec fields, which are placed in the file too.
	err = def.CheckInput(raw)
	var field *workflows.FieldError
	if errors.As(err, &field) {
		if name, ok := strings.CutPrefix(field.Field, "spec."); ok {
			line, column := gameday.Locate(data, name)
			fmt.Fprint(cmd.ErrOrStderr(), gameday.Errors{{Field: name, Problem: field.Problem, Fix: field.Fix, Line: line, Column: column}}.Format(path))
			return spec, nil, specRefused(path, 1)
		}
	}
	if err != nil {
		return spec, nil, fmt.Errorf("invalid input for %s: %w", def.Name, err)
	}
	return spec, raw, nil
}

func specRefused(path string, problems int) error {
	what := "1 problem"
	if problems != 1 {
		what = fmt.Sprintf("%d problems", problems)
	}
	return fmt.Errorf("%s: %s in the spec (above); nothing was sent to Temporal", path, what)
}

var notInSlug = regexp.MustCompile(`[^a-z0-9]+`)

// maxSlug keeps a title's part of a workflow ID readable in lists.
const maxSlug = 40

// gameDayID is a game day's default workflow ID: its title, for people
// reading lists, and the time, so that running a spec again starts anew.
func gameDayID(title string, now time.Time) string {
	slug := strings.Trim(notInSlug.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(slug) > maxSlug {
		slug = strings.TrimRight(slug[:maxSlug], "-")
	}
	stamp := now.UTC().Format("20060102-150405")
	if slug == "" {
		return "gameday-" + stamp
	}
	return "gameday-" + slug + "-" + stamp
}

func (a *app) gameDayReportCommand(def workflows.Definition) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report WORKFLOW-ID",
		Short: "Print a game day's report: outcome, times, faults, rollbacks, remediation, the probes' timeline; --out plots it",
		Long: `Reads a GameDay run through the same data converter as the worker (payloads encrypted by the
codec are decrypted with your keys): its result when it completed, its gameday query when it
is still going on or ended otherwise (cancelled, failed). Prints the outcome, the hypothesis,
the score, the times to detect, roll back and recover, interruptions, the faults as injected
and undone, rollbacks, remediation and one line per probe round.

The worker plots every game day on its own machine (the report's "plot on worker"). --out BASE
draws the same figure here, into BASE.png and BASE.svg: each probe's values over time in a
panel of its own, failed rounds marked, the fault windows shaded.`,
		Example: `  starter gameday report gameday-latency
  starter gameday report gameday-latency --out /tmp/latency   # /tmp/latency.png and .svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			c, namespace, err := a.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			res, source, err := readGameDay(cmd.Context(), c, namespace, def, id)
			if err != nil {
				return err
			}
			if err := writeGameDayReport(cmd.OutOrStdout(), id, res); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), source)
			if out == "" {
				return nil
			}
			if len(res.Timeline) == 0 {
				return fmt.Errorf("--out %s: game day %s has no probe rounds to plot yet; ask again once it has probed the steady state", out, id)
			}
			files, err := gamedayreport.Chart(res.Title, res.Timeline, res.FaultWindows()).Write(out)
			if err != nil {
				return fmt.Errorf("drawing the report of game day %s (--out %s): %w", id, out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "plot: %s\n      %s\n", files.PNG, files.SVG)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "also write the plot to <out>.png and <out>.svg")
	return cmd
}

// gameDayScheduleCommand manages Schedules that start a game day every
// interval, each run with the same spec and each asking for approval.
func (a *app) gameDayScheduleCommand(def workflows.Definition) *cobra.Command {
	s := workflowSchedules{app: a, def: def, path: "gameday schedule", kind: "game day", run: "game day",
		runID: func(id string) string { return id + "-gameday" },
		// No run timeout: a game day the server times out ends without its
		// rollbacks, which run only when the workflow itself ends or is
		// cancelled, and would leave its faults in.
		runTimeout: 0}
	cmd := &cobra.Command{Use: "schedule", Short: "Recurring game days: Temporal Schedules that start GameDay with a spec every interval"}

	var file, requester string
	create := s.createCommand(
		"Create a Schedule that starts a game day from the spec every interval (each run asks for approval)",
		"  starter gameday schedule create nightly-latency -f latency.yaml --every 24h --requester dave\n"+
			"  starter gameday schedule create nightly-latency -f latency.yaml --every 24h --paused",
		24*time.Hour,
		func(cmd *cobra.Command) (json.RawMessage, error) {
			_, raw, err := gameDayInputFromFile(cmd, def, file, requester)
			return raw, err
		})
	create.Flags().StringVarP(&file, "file", "f", "", "the experiment spec, YAML or JSON (internal/gameday/SPEC.md)")
	create.Flags().StringVar(&requester, "requester", "", "who asks for each game day (shown to approvers; unsigned, see the README)")
	_ = create.MarkFlagRequired("file")
	cmd.AddCommand(create)
	cmd.AddCommand(s.manageCommands()...)
	return cmd
}
