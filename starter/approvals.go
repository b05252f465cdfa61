package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
	"github.com/infraflow/infraflow/workflows"
)

func (a *app) approvals() (*approvals.Client, func(), error) {
	c, namespace, err := a.dial()
	if err != nil {
		return nil, nil, err
	}
	return &approvals.Client{Temporal: c, Namespace: namespace}, c.Close, nil
}

// decideCommand is `starter approve` or `starter reject`.
func (a *app) decideCommand(decision string) *cobra.Command {
	var as, reason, keyPath string
	var printOnly bool
	cmd := &cobra.Command{
		Use:   decision + " <approval-workflow-id>",
		Short: fmt.Sprintf("%s a pending approval, signed with your key (sent as an Update, validated before it is accepted)", strings.ToUpper(decision[:1])+decision[1:]),
		Example: fmt.Sprintf(`  starter %s approval-1a2b3c4d --as alice --reason "diff reviewed, capacity is there"
  starter %s approval-1a2b3c4d --as alice --reason "ok" --key ~/.ssh/id_ed25519
  starter %s approval-1a2b3c4d --as alice --reason "ok" --print-only   # signed JSON for temporal workflow update/signal`, decision, decision, decision),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return errors.New("--as is required: say who is deciding")
			}
			req := workflows.DecisionRequest{Approver: as, Decision: decision, Reason: reason, Via: "cli"}
			key, path, err := signingKey(keyPath)
			if err != nil {
				return err
			}
			if key != nil {
				req = approvals.SignDecision(key, args[0], req, time.Now())
			} else {
				fmt.Fprintf(os.Stderr, "no signing key at %s: sending the decision unsigned, which only a directory with allowUnsigned accepts "+
					"(make one with `starter keys generate --name %s`)\n", path, as)
			}
			if printOnly {
				raw, _ := json.Marshal(req)
				fmt.Println(string(raw))
				fmt.Fprintf(os.Stderr, "valid for %s from now; send it with:\n  temporal workflow update execute --workflow-id %s --name %s --input '%s'\n"+
					"  temporal workflow signal --workflow-id %s --name %s --input '%s'\n",
					signing.DefaultWindow, args[0], workflows.DecideUpdate, raw, args[0], workflows.DecisionSignal, raw)
				return nil
			}
			client, done, err := a.approvals()
			if err != nil {
				return err
			}
			defer done()
			st, err := client.Decide(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s by %s recorded; approval is %s (%d of %d approvals)\n", args[0], decision, as, st.Status, len(st.Approvals), st.Quorum)
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "who is deciding (an approver's name)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&keyPath, "key", "", "your Ed25519 private key (default $"+keyfile.Env+" or ~/.config/infraflow/id_ed25519)")
	cmd.Flags().BoolVar(&printOnly, "print-only", false, "print the signed decision as JSON (for temporal workflow update/signal) instead of sending it")
	return cmd
}

func (a *app) pendingCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pending",
		Short: "List pending approvals and who is still awaited",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, done, err := a.approvals()
			if err != nil {
				return err
			}
			defer done()
			open, err := client.Pending(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW ID\tTITLE\tREQUESTER\tAPPROVALS\tAWAITING\tEXPIRES")
			for _, p := range open {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", p.WorkflowID, p.Status.Title, p.Status.Requester,
					len(p.Status.Approvals), p.Status.Quorum, strings.Join(p.Status.Awaiting, ","), p.Status.ExpiresAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

func (a *app) auditCommand() *cobra.Command {
	var since time.Duration
	var format string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export every decision attempt on approvals (accepted or refused, who, when, why)",
		Example: `  starter audit --since 168h --format csv > approvals.csv
  starter audit --since 24h --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "csv" {
				return fmt.Errorf("--format %q: use json or csv", format)
			}
			client, done, err := a.approvals()
			if err != nil {
				return err
			}
			defer done()
			records, err := client.Audit(cmd.Context(), time.Now().Add(-since))
			if err != nil {
				return err
			}
			return approvals.WriteAudit(os.Stdout, format, records)
		},
	}
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "approvals started within this long ago")
	cmd.Flags().StringVar(&format, "format", "json", "json or csv")
	return cmd
}
