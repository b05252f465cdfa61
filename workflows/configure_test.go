package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/playbook"
)

// playbookRuns records each RunPlaybook call and answers it from script,
// keyed by mode and call number; the real ansible-playbook runs in
// internal/ansiblerun's tests and the end-to-end tests.
type playbookRuns struct {
	calls  []playbook.Request
	answer func(req playbook.Request, applyCall int) playbook.Report
	applys int
}

func configureEnv(t *testing.T, runs *playbookRuns) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	Register(env)
	activities.Register(env, &activities.Activities{})
	onActivity2(env, activityref.PreparePlaybook, func(context.Context, playbook.Request, playbook.Inventory) (playbook.Prepared, error) {
		return playbook.Prepared{
			Playbook: "/playbooks/site.yml",
			Hosts:    []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}},
		}, nil
	})
	onActivity(env, activityref.RunPlaybook, func(_ context.Context, req playbook.Request) (playbook.Report, error) {
		runs.calls = append(runs.calls, req)
		if req.Mode == playbook.Apply {
			runs.applys++
		}
		return runs.answer(req, runs.applys), nil
	})
	return env
}

func report(mode playbook.Mode, hosts ...playbook.HostResult) playbook.Report {
	return playbook.Report{Mode: mode, Hosts: hosts, Tasks: 10}
}

func host(name, status string, changedTasks ...string) playbook.HostResult {
	h := playbook.HostResult{Host: name, Status: status, ChangedTasks: changedTasks, Changed: len(changedTasks)}
	if status == playbook.StatusUnreachable {
		h.Unreachable, h.FailedTask, h.Message = 1, "Base directories exist", "Failed to connect to the host via ssh"
	}
	return h
}

// answers the check, apply and verify runs for hosts a and b, with b
// unreachable on the first unreachableFor apply attempts.
func flakyB(unreachableFor int, idempotencyChanges ...string) func(playbook.Request, int) playbook.Report {
	return func(req playbook.Request, applyCall int) playbook.Report {
		var hosts []playbook.HostResult
		for _, name := range req.Limit {
			switch {
			case req.Mode == playbook.Check:
				hosts = append(hosts, playbook.HostResult{Host: name, Status: playbook.StatusChanged, Changed: 3,
					ChangedTasks: []string{"app : App configuration is current"}, ChangedPaths: []string{"/etc/web/config.json", "/etc/ssh/sshd_config"}})
			case req.Mode == playbook.Verify:
				hosts = append(hosts, host(name, playbook.StatusOK))
			case applyCall > 1 && !slices.Equal(req.Limit, []string{"b"}): // the idempotency run
				hosts = append(hosts, host(name, playbook.StatusOK, idempotencyChanges...))
			case name == "b" && applyCall <= unreachableFor:
				hosts = append(hosts, host(name, playbook.StatusUnreachable))
			default:
				hosts = append(hosts, host(name, playbook.StatusChanged, "app : App configuration is current"))
			}
		}
		return report(req.Mode, hosts...)
	}
}

func TestConfigureRetriesOnlyUnreachableHostsWithBackoff(t *testing.T) {
	runs := &playbookRuns{answer: flakyB(2)}
	env := configureEnv(t, runs)
	start := env.Now()
	env.ExecuteWorkflow("ConfigureHosts", ConfigureInput{Playbook: "site.yml",
		Inventory: playbook.Inventory{Hosts: []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}},
		Retry:     &ConfigureRetry{Attempts: 4, Interval: "30s"}})
	var res ConfigureResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ConfigureSucceeded {
		t.Fatalf("status %s (%s)", res.Status, res.Reason)
	}
	var limits []string
	for _, c := range runs.calls {
		limits = append(limits, string(c.Mode)+":"+strings.Join(c.Limit, ","))
	}
	want := []string{"check:a,b", "apply:a,b", "apply:b", "apply:b", "apply:a,b", "verify:a,b"}
	if !slices.Equal(limits, want) {
		t.Errorf("runs %v, want %v", limits, want)
	}
	b := res.Hosts[1]
	if b.Host != "b" || b.Attempts != 3 || !slices.Equal(b.History, []string{"unreachable", "unreachable", "changed"}) || !b.Verified {
		t.Errorf("b = %+v", b)
	}
	// Waits of 30s then 60s between the three attempts.
	if waited := env.Now().Sub(start); waited < 90*time.Second || waited > 2*time.Minute {
		t.Errorf("waited %v between attempts, want 90s", waited)
	}
}

func TestConfigureFailsNamingHostsStillUnreachable(t *testing.T) {
	runs := &playbookRuns{answer: flakyB(99)}
	env := configureEnv(t, runs)
	env.ExecuteWorkflow("ConfigureHosts", ConfigureInput{Playbook: "site.yml",
		Inventory: playbook.Inventory{Hosts: []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}},
		Retry:     &ConfigureRetry{Attempts: 2, Interval: "1s"}})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeConfigurationFailed {
		t.Fatalf("error %v, want %s", err, ErrTypeConfigurationFailed)
	}
	var res ConfigureResult
	if err := appErr.Details(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ConfigureFailed || res.Hosts[0].Status != "changed" || !res.Hosts[0].Verified ||
		res.Hosts[1].Status != "unreachable" || res.Hosts[1].Attempts != 2 || !strings.Contains(res.Reason, "b (unreachable") {
		t.Errorf("result %+v", res)
	}
}

func TestConfigureNamesTasksThatAreNotIdempotent(t *testing.T) {
	runs := &playbookRuns{answer: flakyB(0, "Always reports changed")}
	env := configureEnv(t, runs)
	env.ExecuteWorkflow("ConfigureHosts", ConfigureInput{Playbook: "site.yml",
		Inventory: playbook.Inventory{Hosts: []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}}})
	var res ConfigureResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ConfigureNotIdempotent || !slices.Equal(res.Hosts[0].NotIdempotent, []string{"Always reports changed"}) ||
		!strings.Contains(res.Reason, "Always reports changed") {
		t.Errorf("result %+v", res)
	}
}

// A report may name a host the run did not target (delegate_to: localhost
// shows up as its own host): the workflow ignores it instead of panicking on
// a missing outcome, which would fail its workflow task forever.
func TestConfigureIgnoresReportedHostsItDidNotTarget(t *testing.T) {
	targeted := flakyB(0)
	runs := &playbookRuns{answer: func(req playbook.Request, applyCall int) playbook.Report {
		r := targeted(req, applyCall)
		if applyCall > 1 || req.Mode == playbook.Verify {
			r.Hosts = append(r.Hosts, host("localhost", playbook.StatusChanged, "Record the run"))
		}
		return r
	}}
	env := configureEnv(t, runs)
	env.ExecuteWorkflow("ConfigureHosts", ConfigureInput{Playbook: "site.yml",
		Inventory: playbook.Inventory{Hosts: []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}}})
	var res ConfigureResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ConfigureSucceeded || len(res.Hosts) != 2 || !res.Hosts[0].Verified || !res.Hosts[1].Verified {
		t.Errorf("result %+v: want a and b succeeded and verified, localhost left out", res)
	}
}

func TestProtectedPathNeedsApprovalAndRejectionChangesNothing(t *testing.T) {
	runs := &playbookRuns{answer: flakyB(0)}
	env := configureEnv(t, runs)
	env.OnWorkflow("Approval", mock.Anything, mock.Anything).Return(func(_ workflow.Context, _ converter.RawValue) (ApprovalStatus, error) {
		return ApprovalStatus{Status: "rejected", ClosedBy: "erin", Reason: "not during the freeze"}, nil
	})
	env.ExecuteWorkflow("ConfigureHosts", ConfigureInput{Playbook: "site.yml",
		Inventory: playbook.Inventory{Hosts: []playbook.Host{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}},
		Approval:  &ConfigureApproval{ProtectedPaths: []string{"/etc/ssh/"}}})
	var res ConfigureResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ConfigureRejected || !strings.Contains(res.Reason, "not during the freeze") || len(res.Planned) != 2 {
		t.Errorf("result %+v", res)
	}
	for _, c := range runs.calls {
		if c.Mode != playbook.Check {
			t.Errorf("a %s run happened after the rejection", c.Mode)
		}
	}
}

func TestConfigureInputProblemsNameTheField(t *testing.T) {
	hosts := `"inventory": {"hosts": [{"name": "a", "address": "10.0.0.1"}]}`
	cases := map[string]string{
		`{` + hosts + `}`:          "playbook",
		`{"playbook": "site.yml"}`: "inventory",
		`{"playbook": "site.yml", "inventory": {"hosts": [{"name": "a"}]}}`:                     "inventory.hosts[0].address",
		`{"playbook": "site.yml", ` + hosts + `, "limit": ["zz"]}`:                              "limit[0]",
		`{"playbook": "site.yml", ` + hosts + `, "secrets": {"app_api_token": {}}}`:             "secrets.app_api_token",
		`{"playbook": "site.yml", ` + hosts + `, "secrets": {"app_api_token": "hunter2"}}`:      "secrets",
		`{"playbook": "site.yml", ` + hosts + `, "retry": {"attempts": 50}}`:                    "retry.attempts",
		`{"playbook": "site.yml", ` + hosts + `, "approval": {"protectedPaths": ["etc/ssh"]}}`:  "approval.protectedPaths[0]",
		`{"playbook": "site.yml", "inventory": {"stack": {"program": "nope", "stack": "dev"}}}`: "inventory.stack.program",
		`{"playbook": "site.yml", ` + hosts + `, "extraVarz": {}}`:                              "extraVarz",
	}
	for input, field := range cases {
		_, err := DecodeInput[ConfigureInput]([]byte(input))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming %s", input, err, field)
		}
	}
}
