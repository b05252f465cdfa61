package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"

	"github.com/infraflow/infraflow/internal/toolchain"
)

// CheckTool reports whether one tool is present and usable on this worker's
// machine. A missing tool is a result, not an error: the workflow decides what
// a missing tool means.
func (a *Activities) CheckTool(ctx context.Context, name string) (toolchain.ToolStatus, error) {
	switch name {
	case toolchain.TemporalServer:
		return a.checkTemporalServer(ctx), nil
	case toolchain.PulumiBackend:
		return a.checkPulumiBackend(ctx), nil
	}
	for _, tool := range toolchain.Catalog() {
		if tool.Name == name {
			status, slow := checkCommand(ctx, tool)
			if slow && activity.GetInfo(ctx).Attempt < slowProbeAttempts {
				return status, fmt.Errorf("%s: %s; trying again", name, status.Detail)
			}
			activity.GetLogger(ctx).Info("Checked tool", "tool", name, "status", status.Status, "version", status.Version)
			return status, nil
		}
	}
	return toolchain.ToolStatus{}, fmt.Errorf("unknown tool %q; known tools: %s", name, strings.Join(toolchain.Names(), ", "))
}

func (a *Activities) checkTemporalServer(ctx context.Context) toolchain.ToolStatus {
	status := toolchain.ToolStatus{Name: toolchain.TemporalServer, Expected: toolchain.TemporalServerVersion}
	info, err := a.Temporal.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if err != nil {
		status.Status = toolchain.ToolMissing
		status.Detail = fmt.Sprintf("frontend did not answer: %v", err)
		status.Fix = "start the local platform with `make dev`, or point the worker at a cluster with --address/TEMPORAL_ADDRESS"
		return status
	}
	status.Status = toolchain.ToolOK
	status.Version = "v" + strings.TrimPrefix(info.GetServerVersion(), "v")
	status.Detail = versionNote(status.Version, status.Expected)
	return status
}

func (a *Activities) checkPulumiBackend(ctx context.Context) toolchain.ToolStatus {
	status := toolchain.ToolStatus{Name: toolchain.PulumiBackend}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	health, err := a.Pulumi.CheckBackend(ctx)
	status.Path = health.URL
	if err != nil {
		status.Status = toolchain.ToolMissing
		status.Detail = err.Error()
		status.Fix = "give the worker a backend it can reach with --pulumi-backend: postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=disable (the database must be up), or file:///DIR"
		return status
	}
	status.Status = toolchain.ToolOK
	status.Version = health.Kind
	if health.Server != "" {
		status.Version += " " + health.Server
	}
	status.Detail = fmt.Sprintf("%s: %d stacks", health.URL, health.Stacks)
	return status
}

// slowProbeAttempts is how many attempts a tool that does not answer within
// probeTimeout gets before it counts as missing: a loaded machine can be slow
// to start a Python tool.
const slowProbeAttempts = 4

// probeTimeout bounds each command a check runs.
var probeTimeout = 20 * time.Second

// errProbeTimedOut is a command that did not answer within probeTimeout.
var errProbeTimedOut = errors.New("timed out")

// checkCommand reports the tool's status, and whether it was missing only
// because a command did not answer in time (a slow machine, maybe).
func checkCommand(ctx context.Context, tool toolchain.Tool) (status toolchain.ToolStatus, slow bool) {
	status = toolchain.ToolStatus{Name: tool.Name, Expected: tool.Expected, Fix: tool.Fix}
	path, err := exec.LookPath(tool.Command)
	if err != nil {
		status.Status = toolchain.ToolMissing
		status.Detail = fmt.Sprintf("%s is not on the worker's PATH", tool.Command)
		return status, false
	}
	status.Path = path
	out, err := run(ctx, path, tool.Args...)
	if m := tool.VersionPattern.FindStringSubmatch(out); m != nil {
		status.Version = m[1]
	}
	switch {
	case status.Version == "":
		status.Status = toolchain.ToolMissing
		status.Detail = fmt.Sprintf("`%s %s` did not report a version (%v): %s", tool.Command, strings.Join(tool.Args, " "), err, firstLine(out))
		return status, errors.Is(err, errProbeTimedOut)
	case len(tool.Health) > 0:
		if out, err := run(ctx, tool.Health[0], tool.Health[1:]...); err != nil {
			status.Status = toolchain.ToolMissing
			status.Detail = fmt.Sprintf("health check `%s` failed: %v: %s", strings.Join(tool.Health, " "), err, firstLine(out))
			return status, errors.Is(err, errProbeTimedOut)
		}
	}
	status.Status = toolchain.ToolOK
	status.Fix = ""
	status.Detail = versionNote(status.Version, status.Expected)
	return status, false
}

func versionNote(got, want string) string {
	if want == "" || strings.TrimPrefix(got, "v") == strings.TrimPrefix(want, "v") {
		return ""
	}
	return fmt.Sprintf("infraflow pins %s; this is %s", want, got)
}

// run returns combined output: several tools print their version on stderr.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Some tools (ansible-lint) colour their version even when not on a terminal.
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %s", errProbeTimedOut, probeTimeout)
	}
	return strings.TrimSpace(out.String()), err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
