package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/launch"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
	"github.com/infraflow/infraflow/workflows"
)

// workflowCommand is the subcommand that launches one workflow.
func (a *app) workflowCommand(def workflows.Definition) *cobra.Command {
	var input, id, keyPath string
	var wait bool
	cmd := &cobra.Command{
		Use:   def.Command,
		Short: fmt.Sprintf("Start %s: %s", def.Name, def.Summary),
		Example: fmt.Sprintf("  starter %s --input '%s' --wait\n  starter %s --input @request.json",
			def.Command, def.Example, def.Command),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := launch.ReadInput(input)
			if err != nil {
				return err
			}
			if raw, id, err = signedInput(def, raw, id, keyPath); err != nil {
				return err
			}
			var follow func(client.Client, client.WorkflowRun) error
			if wait {
				follow = printResult(cmd)
			}
			return a.launch(cmd, def, raw, id, follow)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "input JSON, inline or @file (@- for stdin); default {}")
	cmd.Flags().StringVar(&id, "id", "", "workflow ID (default: generated)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow progress until the workflow ends and print its result")
	cmd.Flags().StringVar(&keyPath, "key", "", "sign the requester with this Ed25519 key (default $"+keyfile.Env+" or ~/.config/infraflow/id_ed25519, when it exists)")
	return cmd
}

// signedInput signs the input's requester (when it names one and the key
// exists) for the workflow ID the run will have, choosing that ID now.
func signedInput(def workflows.Definition, raw json.RawMessage, id, keyPath string) (json.RawMessage, string, error) {
	key, path, err := signingKey(keyPath)
	if err != nil || key == nil {
		return raw, id, err
	}
	if id == "" && def.ID != nil {
		id = def.ID(raw)
	}
	if id == "" {
		id = def.Command + "-" + uuid.NewString()[:8]
	}
	out, signed, err := signRequester(raw, id, key)
	if signed {
		fmt.Fprintf(os.Stderr, "requester signed with %s\n", path)
	}
	return out, id, err
}

// launch starts def and hands the run to follow (nil: return once started).
func (a *app) launch(cmd *cobra.Command, def workflows.Definition, input json.RawMessage, id string,
	follow func(c client.Client, run client.WorkflowRun) error) error {
	c, namespace, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	run, err := launch.Start(cmd.Context(), c, launch.Request{Workflow: def, Input: input, ID: id, TaskQueue: a.taskQueue})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "started %s\n  workflow ID: %s\n  run ID:      %s\n  Web UI:      %s\n",
		def.Name, run.GetID(), run.GetRunID(), launch.UILink(a.uiURL, namespace, run))
	if follow == nil {
		return nil
	}
	return follow(c, run)
}

// printResult follows the run and prints its result as indented JSON.
func printResult(cmd *cobra.Command) func(client.Client, client.WorkflowRun) error {
	return func(c client.Client, run client.WorkflowRun) error {
		result, err := launch.Follow(cmd.Context(), c, run, os.Stderr)
		if err != nil {
			return fmt.Errorf("workflow %s failed: %w", run.GetID(), err)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, result, "", "  "); err != nil {
			return fmt.Errorf("workflow %s returned a result that is not JSON: %w", run.GetID(), err)
		}
		fmt.Println(pretty.String())
		return nil
	}
}
