package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/workflows"
)

// destroyCommand is a shortcut for ProvisionStack with operation destroy.
func (a *app) destroyCommand() *cobra.Command {
	var program, stack, requester string
	var wait bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Start ProvisionStack with operation destroy: preview the deletions, check policy, approve if needed, destroy",
		Example: "  starter destroy --program local --stack dev --wait\n" +
			`  (the same as: starter provision --input '{"program": "local", "stack": "dev", "operation": "destroy"}')`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def, ok := workflows.Lookup("ProvisionStack")
			if !ok {
				return fmt.Errorf("ProvisionStack is not defined")
			}
			input, err := json.Marshal(workflows.ProvisionInput{Program: program, Stack: stack, Operation: "destroy", Requester: requester})
			if err != nil {
				return err
			}
			var follow func(client.Client, client.WorkflowRun) error
			if wait {
				follow = printResult(cmd)
			}
			return a.launch(cmd, def, input, "", follow)
		},
	}
	cmd.Flags().StringVar(&program, "program", "local", "the stack's program")
	cmd.Flags().StringVar(&stack, "stack", "", "the stack to destroy (required)")
	cmd.Flags().StringVar(&requester, "requester", "", "who asks (shown to approvers)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow progress until the workflow ends and print its result")
	_ = cmd.MarkFlagRequired("stack")
	return cmd
}
