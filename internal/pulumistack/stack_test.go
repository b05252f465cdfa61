package pulumistack

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/internal/testtier"
)

// A stack opened with the configuration written straight into its settings
// file runs its program with those values, its state is read from the
// checkpoint as the CLI would export it, and closing it leaves no workspace.
func TestOpenConfiguresTheStackAndCloseRemovesItsWorkspace(t *testing.T) {
	testtier.PinnedTools(t, "the pulumi CLI")
	if _, err := exec.LookPath("pulumi"); err != nil {
		t.Fatalf("no pulumi CLI (make tools builds it): %v", err)
	}
	programs["config-echo"] = func(ctx *pulumi.Context) error {
		own := config.New(ctx, "")
		ctx.Export("replicas", pulumi.Int(own.RequireInt("replicas")))
		ctx.Export("image", pulumi.String(own.Require("image")))
		ctx.Export("stateDir", pulumi.String(config.New(ctx, "infraflow").Require("stateDir")))
		return nil
	}
	t.Cleanup(func() { delete(programs, "config-echo") })
	t.Setenv("TMPDIR", t.TempDir()) // the workspaces Open makes land here
	env := Env{StateDir: t.TempDir(), Kubeconfig: "/nonexistent/kubeconfig"}
	ref := stackop.Ref{Program: "config-echo", Stack: "dev"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	stack, err := env.Open(ctx, ref, map[string]any{"replicas": 3, "image": "nginx:1.27"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := env.ReadState(ctx, ref); err != nil || st.Resources != 0 || len(st.Pending) != 0 {
		t.Errorf("state of a new stack = %+v, %v; want empty", st, err)
	}
	outputs, err := Up(ctx, stack, 0, func(stackop.Progress) {}, "")
	if err != nil {
		t.Fatal(err)
	}
	if outputs["replicas"] != float64(3) || outputs["image"] != "nginx:1.27" || outputs["stateDir"] != filepath.Join(env.StateDir, "hosts") {
		t.Errorf("outputs %v: want the configuration Open wrote", outputs)
	}
	workDir := stack.Workspace().WorkDir()
	Close(stack)
	if _, err := os.Stat(workDir); !os.IsNotExist(err) {
		t.Errorf("workspace %s still there after Close: %v", workDir, err)
	}

	// Opened again, with new values: the settings file of this workspace
	// holds them, and the state file the earlier run wrote is read back.
	stack, err = env.Open(ctx, ref, map[string]any{"replicas": 5, "image": "nginx:1.27"})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(stack)
	st, err := env.ReadState(ctx, ref)
	if err != nil || st.Resources != 0 {
		t.Errorf("state after one up = %+v, %v; want no resources beyond the stack", st, err)
	}
	dep, err := env.readDeployment(ctx, ref)
	if err != nil || len(dep.Resources) == 0 {
		t.Fatalf("deployment read from the checkpoint: %d resources, %v; want the stack resource", len(dep.Resources), err)
	}
	exported, err := stack.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countResources(t, exported.Deployment); n != len(dep.Resources) {
		t.Errorf("the checkpoint read has %d resources, pulumi stack export %d", len(dep.Resources), n)
	}
	outputs, err = Up(ctx, stack, 0, func(stackop.Progress) {}, "")
	if err != nil || outputs["replicas"] != float64(5) {
		t.Errorf("outputs after the second up %v, %v; want replicas 5", outputs, err)
	}
	if left, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "*")); len(left) != 1 {
		t.Errorf("workspaces left: %v, want only the open one", left)
	}
}

func countResources(t *testing.T, raw []byte) int {
	t.Helper()
	var dep struct {
		Resources []any `json:"resources"`
	}
	if err := json.Unmarshal(raw, &dep); err != nil {
		t.Fatal(err)
	}
	return len(dep.Resources)
}
