package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/toolchain"
)

// ErrTypePlatformIncomplete is the failure type when a required tool is missing.
const ErrTypePlatformIncomplete = "PlatformIncomplete"

// metricsToolsChange marks the PlatformCheck runs whose default list has
// Prometheus and moto (version 1); runs that began before check the tools
// they began with.
const metricsToolsChange = "platform-check-metrics-tools"

// chaosToolsChange marks the runs whose default list has toxiproxy's server
// and CLI (version 1); runs that began before check the tools they began with.
const chaosToolsChange = "platform-check-chaos-tools"

// pulumiBackendChange marks the runs whose default list has the stacks'
// backend (version 1); runs that began before check the tools they began with.
const pulumiBackendChange = "platform-check-pulumi-backend"

// PlatformCheckInput chooses which tools to check; empty means all of them.
type PlatformCheckInput struct {
	Tools []string `json:"tools,omitempty"`
}

// Validate implements Input.
func (in PlatformCheckInput) Validate() error {
	known := toolchain.Names()
	for i, name := range in.Tools {
		if !slices.Contains(known, name) {
			return &FieldError{
				Field:   fmt.Sprintf("tools[%d]", i),
				Problem: fmt.Sprintf("unknown tool %q", name),
				Fix:     "use one of: " + strings.Join(known, ", "),
			}
		}
	}
	return nil
}

// PlatformCheckResult has one row per tool, in the order they were asked for.
type PlatformCheckResult struct {
	Tools   []toolchain.ToolStatus `json:"tools"`
	Missing []string               `json:"missing,omitempty"`
}

// PlatformCheck asks the worker's machine for the version and health of every
// tool infraflow runs with, and fails, listing each missing tool with its fix,
// when any is missing.
func PlatformCheck(ctx workflow.Context, in PlatformCheckInput) (PlatformCheckResult, error) {
	tools := in.Tools
	if len(tools) == 0 {
		tools = toolchain.Names()
		if workflow.GetVersion(ctx, metricsToolsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			tools = slices.DeleteFunc(tools, func(name string) bool { return name == "prometheus" || name == "moto" })
		}
		if workflow.GetVersion(ctx, chaosToolsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			tools = slices.DeleteFunc(tools, func(name string) bool { return name == "toxiproxy-server" || name == "toxiproxy-cli" })
		}
		if workflow.GetVersion(ctx, pulumiBackendChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			tools = slices.DeleteFunc(tools, func(name string) bool { return name == toolchain.PulumiBackend })
		}
	}
	progress := Progress{Phase: "checking tools", Total: len(tools)}
	if err := trackProgress(ctx, &progress); err != nil {
		return PlatformCheckResult{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		// CheckTool asks for up to 4 attempts at a tool too slow to answer
		// (a machine under load); one more covers a lost worker.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5},
	})

	futures := make([]activityref.Future[toolchain.ToolStatus], len(tools))
	for i, name := range tools {
		futures[i] = activityref.CheckTool.Start(ctx, name)
	}
	result := PlatformCheckResult{Tools: make([]toolchain.ToolStatus, len(tools))}
	for i, f := range futures {
		progress.Current = tools[i]
		status, err := f.Get(ctx)
		if err != nil {
			return result, fmt.Errorf("checking %s: %w", tools[i], err)
		}
		result.Tools[i] = status
		progress.Done++
		if result.Tools[i].Status != toolchain.ToolOK {
			result.Missing = append(result.Missing, tools[i])
		}
	}
	progress.Phase, progress.Current = "done", ""

	if len(result.Missing) > 0 {
		var lines []string
		for _, t := range result.Tools {
			if t.Status != toolchain.ToolOK {
				lines = append(lines, fmt.Sprintf("%s (%s; fix: %s)", t.Name, t.Detail, t.Fix))
			}
		}
		return result, temporal.NewNonRetryableApplicationError(
			"platform incomplete, missing: "+strings.Join(lines, "; "), ErrTypePlatformIncomplete, nil, result)
	}
	workflow.GetLogger(ctx).Info("Platform complete", "tools", len(tools))
	return result, nil
}
