package workflows

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/toolchain"
)

// newEnv registers every workflow and the real activities: the checks run the
// real tools on this machine. The Temporal server check needs a live server and
// is covered by the end-to-end tests.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	// The activities run real programs; ansible-doc alone can take seconds.
	env.SetTestTimeout(2 * time.Minute)
	Register(env)
	activities.Register(env, &activities.Activities{})
	return env
}

func TestPlatformCheckReportsEachRequestedTool(t *testing.T) {
	env := newEnv(t)
	env.ExecuteWorkflow("PlatformCheck", PlatformCheckInput{Tools: []string{"ansible-playbook", "ssh", "sshd"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("PlatformCheck failed: %v (run `make tools` to install the Debian packages)", err)
	}
	var result PlatformCheckResult
	if err := env.GetWorkflowResult(&result); err != nil {
		t.Fatal(err)
	}
	if len(result.Tools) != 3 || len(result.Missing) != 0 {
		t.Fatalf("result = %+v, want 3 rows and nothing missing", result)
	}
	for i, want := range []string{"ansible-playbook", "ssh", "sshd"} {
		row := result.Tools[i]
		if row.Name != want || row.Status != toolchain.ToolOK || row.Version == "" || row.Path == "" {
			t.Errorf("row %d = %+v, want %s ok with a version and path", i, row, want)
		}
	}
	if !strings.HasPrefix(result.Tools[0].Version, "2.") {
		t.Errorf("ansible-playbook version = %q, want ansible-core 2.x", result.Tools[0].Version)
	}
}

func TestPlatformCheckFailsListingMissingToolsAndTheirFix(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // a machine with none of the tools installed
	env := newEnv(t)
	env.ExecuteWorkflow("PlatformCheck", PlatformCheckInput{Tools: []string{"pulumi", "ansible-playbook"}})

	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) {
		t.Fatalf("workflow error = %v, want an application error", err)
	}
	if appErr.Type() != ErrTypePlatformIncomplete || !appErr.NonRetryable() {
		t.Errorf("error type %q non-retryable=%v, want %s non-retryable", appErr.Type(), appErr.NonRetryable(), ErrTypePlatformIncomplete)
	}
	for _, want := range []string{"pulumi (pulumi is not on the worker's PATH; fix: run `make tools`", "ansible-playbook (", "apt-get install ansible"} {
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("error %q does not contain %q", appErr.Error(), want)
		}
	}
	var report PlatformCheckResult
	if err := appErr.Details(&report); err != nil {
		t.Fatal(err)
	}
	if strings.Join(report.Missing, ",") != "pulumi,ansible-playbook" || report.Tools[0].Status != toolchain.ToolMissing {
		t.Errorf("report = %+v, want both tools missing", report)
	}
}

func TestInvalidInputFailsNonRetryableNamingTheField(t *testing.T) {
	cases := map[string]string{
		`{"toolz": ["pulumi"]}`: `field "toolz": is not a known field; known fields: tools`,
		`{"tools": "pulumi"}`:   `field "tools": got a JSON string, want array of string`,
		`{"tools": ["nope"]}`:   `field "tools[0]": unknown tool "nope"`,
	}
	for input, want := range cases {
		env := newEnv(t)
		env.ExecuteWorkflow("PlatformCheck", json.RawMessage(input))
		var appErr *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &appErr) {
			t.Fatalf("input %s: workflow error = %v, want an application error", input, err)
		}
		if appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() {
			t.Errorf("input %s: type %q non-retryable=%v, want %s non-retryable", input, appErr.Type(), appErr.NonRetryable(), ErrTypeInvalidInput)
		}
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("input %s: error %q does not contain %q", input, appErr.Error(), want)
		}
	}
}

func TestProgressQueryReportsCompletion(t *testing.T) {
	env := newEnv(t)
	env.ExecuteWorkflow("PlatformCheck", PlatformCheckInput{Tools: []string{"ssh"}})
	p := query[Progress](t, env, ProgressQuery)
	if p.Done != 1 || p.Total != 1 || p.Phase != "done" {
		t.Errorf("progress = %+v, want 1/1 done", p)
	}
}
