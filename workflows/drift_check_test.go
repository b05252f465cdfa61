package workflows

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/pulumistack"
)

// A drift check of a stack that was never created is bad input naming the
// stack and the program's stacks; the real PreviewStack refuses it from the
// state files, so no Pulumi CLI runs and no empty stack is left behind.
func TestDriftCheckOfAMissingStackIsBadInput(t *testing.T) {
	state := t.TempDir()
	stacks := filepath.Join(state, "state", ".pulumi", "stacks", "infraflow-local")
	if err := os.MkdirAll(stacks, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"web.json", "web.json.bak", "cfg.json.gz"} {
		if err := os.WriteFile(filepath.Join(stacks, f), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	Register(env)
	activities.Register(env, &activities.Activities{Pulumi: pulumistack.Env{StateDir: state}})
	env.ExecuteWorkflow(DriftCheck, DriftCheckInput{Program: "local", Stack: "doesnotexist"})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() {
		t.Fatalf("error %v, want a non-retryable %s", err, ErrTypeInvalidInput)
	}
	if want := `field "stack": program local has no stack "doesnotexist" (its stacks: cfg, web)`; !strings.Contains(appErr.Error(), want) {
		t.Errorf("error %q lacks %q", appErr.Error(), want)
	}
	if entries, _ := os.ReadDir(stacks); len(entries) != 3 {
		t.Errorf("the state directory holds %d files after the check, want the 3 it had", len(entries))
	}
}
