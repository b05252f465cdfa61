package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/launch"
	"github.com/infraflow/infraflow/workflows"
)

// doctorCommand runs PlatformCheck and shows its report as a table.
func (a *app) doctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check every tool the platform uses (runs the PlatformCheck workflow and waits)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def, _ := workflows.Lookup("PlatformCheck")
			return a.launch(cmd, def, []byte("{}"), "", func(c client.Client, run client.WorkflowRun) error {
				var report workflows.PlatformCheckResult
				var appErr *temporal.ApplicationError
				result, err := launch.Follow(cmd.Context(), c, run, os.Stderr)
				switch {
				case err == nil:
					if err := json.Unmarshal(result, &report); err != nil {
						return fmt.Errorf("platform check %s returned an unreadable report: %w", run.GetID(), err)
					}
				case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypePlatformIncomplete:
					if derr := appErr.Details(&report); derr != nil {
						return fmt.Errorf("%w (report unreadable: %v)", err, derr)
					}
				default:
					return fmt.Errorf("platform check %s failed: %w", run.GetID(), err)
				}
				printReport(report)
				if len(report.Missing) > 0 {
					return fmt.Errorf("missing: %v; the FIX column says how to install each", report.Missing)
				}
				return nil
			})
		},
	}
}

func printReport(r workflows.PlatformCheckResult) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tSTATUS\tVERSION\tFIX / NOTE")
	for _, t := range r.Tools {
		note := t.Detail
		if t.Fix != "" {
			note = t.Fix + " (" + t.Detail + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Status, t.Version, note)
	}
	_ = tw.Flush()
}
