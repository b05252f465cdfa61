package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/infraflow/infraflow/internal/searchattr"
)

// listCommand lists infraflow's workflows through visibility: every infraflow
// workflow carries the InfraflowKind search attribute.
func (a *app) listCommand() *cobra.Command {
	var all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List infraflow's open workflows (--all: closed ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, namespace, err := a.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			query := searchattr.Kind.GetName() + " IS NOT NULL"
			if !all {
				query += " AND ExecutionStatus = 'Running'"
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW ID\tTYPE\tSTATUS\tSTARTED\tSTACK")
			var token []byte
			shown := 0
			for shown < limit {
				resp, err := c.ListWorkflow(cmd.Context(), &workflowservice.ListWorkflowExecutionsRequest{
					Namespace: namespace, Query: query, NextPageToken: token, PageSize: int32(min(limit-shown, 1000)),
				})
				if err != nil {
					return fmt.Errorf("listing workflows (query %q): %w", query, err)
				}
				for _, e := range resp.GetExecutions() {
					var stack string
					if p := e.GetSearchAttributes().GetIndexedFields()[searchattr.Stack.GetName()]; p != nil {
						_ = converter.GetDefaultDataConverter().FromPayload(p, &stack)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.GetExecution().GetWorkflowId(), e.GetType().GetName(),
						e.GetStatus(), e.GetStartTime().AsTime().Local().Format(time.DateTime), stack)
					shown++
				}
				if token = resp.GetNextPageToken(); len(token) == 0 {
					break
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include closed workflows")
	cmd.Flags().IntVar(&limit, "limit", 100, "show at most this many")
	return cmd
}
