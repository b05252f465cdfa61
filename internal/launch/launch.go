// Package launch starts infraflow workflows for the operator CLI and follows
// them to the end, drawing their progress query as a progress bar.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/workflows"
)

// Request is one workflow start as the operator asked for it.
type Request struct {
	Workflow  workflows.Definition
	Input     json.RawMessage
	ID        string
	TaskQueue string
}

// ReadInput accepts inline JSON, @path for a file, or @- for stdin.
func ReadInput(arg string) (json.RawMessage, error) {
	if arg == "" {
		return json.RawMessage("{}"), nil
	}
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		var data []byte
		var err error
		if path == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", arg, err)
		}
		return data, nil
	}
	return json.RawMessage(arg), nil
}

// Start validates the input exactly as the workflow will, then starts it, so
// bad input is refused before anything runs.
func Start(ctx context.Context, c client.Client, req Request) (client.WorkflowRun, error) {
	if err := req.Workflow.CheckInput(req.Input); err != nil {
		return nil, fmt.Errorf("invalid input for %s: %w", req.Workflow.Name, err)
	}
	id := req.ID
	if id == "" && req.Workflow.ID != nil {
		id = req.Workflow.ID(req.Input)
	}
	if id == "" {
		id = req.Workflow.Command + "-" + uuid.NewString()[:8]
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: req.TaskQueue,
		// Refuse rather than silently attach to a running workflow of the same
		// ID, which would drop this request's input (ProvisionStack's ID is its
		// stack, so this is what serialises operations on a stack).
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, req.Workflow.Name, req.Input)
	var running *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &running) {
		return nil, fmt.Errorf("refused: workflow %s is already running (run %s); wait for it (temporal workflow result --workflow-id %s) or cancel it, then ask again",
			id, running.RunId, id)
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", req.Workflow.Name, err)
	}
	return run, nil
}

// UILink is the run's page in the Temporal Web UI.
func UILink(uiURL, namespace string, run client.WorkflowRun) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history",
		strings.TrimRight(uiURL, "/"), url.PathEscape(namespace), url.PathEscape(run.GetID()), url.PathEscape(run.GetRunID()))
}

// Follow waits for the run to end, redrawing its progress on out, and returns
// the result as JSON.
func Follow(ctx context.Context, c client.Client, run client.WorkflowRun, out io.Writer) (json.RawMessage, error) {
	type outcome struct {
		result json.RawMessage
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		var result json.RawMessage
		err := run.Get(ctx, &result)
		done <- outcome{result, err}
	}()

	bar := newBar(out)
	redraw := func() {
		if p, ok := queryProgress(ctx, c, run); ok {
			bar.draw(p)
		}
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	redraw()
	for {
		select {
		case o := <-done:
			// Short runs end between polls; show where they ended.
			redraw()
			bar.finish()
			return o.result, o.err
		case <-tick.C:
			redraw()
		}
	}
}

func queryProgress(ctx context.Context, c client.Client, run client.WorkflowRun) (workflows.Progress, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.ProgressQuery)
	if err != nil {
		// Not answerable yet (no worker has picked it up) or already closed.
		return workflows.Progress{}, false
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return workflows.Progress{}, false
	}
	return p, true
}
