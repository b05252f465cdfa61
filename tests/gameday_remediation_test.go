package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/procs"
	"github.com/infraflow/infraflow/workflows"
)

// appPID is the PID of the app on a local host, from its PID file, and
// whether that process is alive and is the app.
func appPID(t *testing.T, h sshHost) (int, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.Root, "run", "web.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("PID file of the app on %s holds %q: %v", h.Name, data, err)
	}
	return pid, isApp(pid)
}

// isApp says whether pid is a live (not zombie) app.py process.
func isApp(pid int) bool {
	p, ok := procs.Get(pid)
	return ok && p.State != "Z" && strings.Contains(strings.Join(p.Args, " "), "app.py")
}

// childRuns lists the child workflows a workflow's history started, by
// workflow ID, with their type and how they closed ("completed", "failed",
// ... or "" while running).
func (p *platform) childRuns(t *testing.T, id string) map[string][2]string {
	t.Helper()
	type child struct {
		WorkflowType struct {
			Name string `json:"name"`
		} `json:"workflowType"`
		WorkflowExecution struct {
			WorkflowID string `json:"workflowId"`
		} `json:"workflowExecution"`
	}
	var history struct {
		Events []struct {
			Started   *child `json:"childWorkflowExecutionStartedEventAttributes"`
			Completed *child `json:"childWorkflowExecutionCompletedEventAttributes"`
			Failed    *child `json:"childWorkflowExecutionFailedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")), &history); err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	runs := map[string][2]string{}
	for _, e := range history.Events {
		switch {
		case e.Started != nil:
			runs[e.Started.WorkflowExecution.WorkflowID] = [2]string{e.Started.WorkflowType.Name, ""}
		case e.Completed != nil:
			runs[e.Completed.WorkflowExecution.WorkflowID] = [2]string{e.Completed.WorkflowType.Name, "completed"}
		case e.Failed != nil:
			runs[e.Failed.WorkflowExecution.WorkflowID] = [2]string{e.Failed.WorkflowType.Name, "failed"}
		}
	}
	return runs
}

// A fault with no undo that leaves the system down: the app (deployed by
// app.yml, the app role of site.yml) is killed on a local host, and nothing
// restarts it (the rollback, an up of the stack, does not touch the app).
// The steady state does not return within the bound, the remediation
// (ConfigureHosts with app.yml) starts the app again, and the report and chat
// say so. Then the same with a remediation that fails: people are called for.
func TestGameDayRemediatesAKilledApp(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	p.start()
	provisioning := time.Now()
	res, status, err := p.provision(t, "gdkill", `{"program": "local", "stack": "gdkill", "requester": "dave",
		"config": {"namespace": "gdkill", "image": "nginx:1.27", "replicas": 1, "hosts": 1},
		"configure": {"playbook": "app.yml"}}`)
	if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded || res.Configuration == nil {
		t.Fatalf("provision with configuration: %s %+v %v", status, res, err)
	}
	t.Logf("provisioned and configured one host in %s", time.Since(provisioning).Round(time.Second))
	host := hostsOf(t, res.Outputs)[0]
	before, alive := appPID(t, host)
	if _, ok := appAnswers(t, host); !ok || !alive {
		t.Fatalf("the app on %s does not run after app.yml (PID %d alive: %v)", host.Name, before, alive)
	}
	stackInventory := `"inventory": {"stack": {"program": "local", "stack": "gdkill"}}`
	spec := func(title string, remediation gameday.Action) gameday.Experiment {
		return gameday.Experiment{
			Title: title, ProbeInterval: "1s", RecoveryTimeout: "3s",
			Approval: &gameday.Approval{Groups: []string{"sre"}},
			SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "app-health", Kind: gameday.ProbeHTTP,
				HTTP: &gameday.HTTPProbe{URL: fmt.Sprintf("http://%s:%d/healthz", host.Address, int(host.AppPort)), Samples: 2, Timeout: "1s"}}}},
			// The app's command line names its script under the host's root,
			// inside the worker's data directory: the one process this
			// worker may kill by that name.
			Method: []gameday.Fault{{Name: "kill-app", Kind: gameday.FaultProcessKill, Duration: "3s", Process: &gameday.ProcessTarget{Name: "app.py"}}},
			// The kill's rollback, as the spec's validation suggests: an up
			// of the stack at its last good configuration. The stack holds
			// the host; the app is Ansible's, so the up leaves it down.
			Rollbacks: []gameday.Rollback{{Action: gameday.Action{Name: "up-stack", Kind: gameday.ActionProvisionStack, Program: "local", Stack: "gdkill"},
				Undoes: []string{"kill-app"}}},
			// The app is expected to go down: what is tested is what follows.
			Abort:       []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Count: 1000}},
			Remediation: []gameday.Action{remediation},
		}
	}

	// checkKilledAndRolledBack holds for both runs: the app that ran was
	// the one process killed, every method round failed, and the rollback
	// ran ProvisionStack as a child.
	checkKilledAndRolledBack := func(t *testing.T, id string, res workflows.GameDayResult, victim int) {
		t.Helper()
		if len(res.Faults) != 1 {
			t.Fatalf("faults %+v, want the one kill", res.Faults)
		}
		f := res.Faults[0]
		if f.Injection == nil || len(f.Injection.Targets) != 1 || !strings.HasPrefix(f.Injection.Targets[0], fmt.Sprintf("%d ", victim)) ||
			!strings.Contains(f.Injection.Targets[0], filepath.Join(host.Root, "opt", "web", "bin", "app.py")) {
			t.Errorf("fault %+v: want the app's process %d killed, and nothing else", f, victim)
		}
		if f.Undo == nil || !f.Undo.Removed || f.UndoneAt.IsZero() {
			t.Errorf("fault %+v: want the kill's record removed", f)
		}
		method := 0
		for _, r := range res.Timeline {
			if r.Phase == "method" {
				method++
				if r.OK {
					t.Errorf("a probe round held while the app was killed: %+v", r)
				}
			}
		}
		if method == 0 {
			t.Error("no probe round during the method")
		}
		if len(res.Rollbacks) != 1 || res.Rollbacks[0].Name != "up-stack" || res.Rollbacks[0].Status != "done" ||
			!strings.Contains(res.Rollbacks[0].Detail, workflows.ProvisionWorkflowID("local", "gdkill")+": "+workflows.ProvisionSucceeded) {
			t.Errorf("rollbacks %+v: want up-stack done with ProvisionStack succeeded", res.Rollbacks)
		}
		if run := p.childRuns(t, id)[workflows.ProvisionWorkflowID("local", "gdkill")]; run != [2]string{"ProvisionStack", "completed"} {
			t.Errorf("the rollback's child in the history of %s: %v, want ProvisionStack completed", id, run)
		}
	}

	t.Run("remediation brings the app back", func(t *testing.T) {
		id := "gameday-kill-app"
		remediation := gameday.Action{Name: "restart-app", Kind: gameday.ActionConfigureHosts,
			Input: json.RawMessage(`{"playbook": "app.yml", ` + stackInventory + `}`)}
		p.startGameDay(t, id, spec("the app comes back after its process is killed", remediation))
		res, status := p.gameDayOutcome(t, id)
		t.Logf("%s %s: %s; recovered in %s, score %d", status, res.Outcome, res.Reason, res.TimeToRecover, res.Score)
		if status != "COMPLETED" || res.Outcome != workflows.GameDayNotHeld || res.HypothesisHeld || res.PeopleNeeded {
			t.Fatalf("%s %s (%s), people needed %v: want not-held, brought back by the remediation", status, res.Outcome, res.Reason, res.PeopleNeeded)
		}
		checkKilledAndRolledBack(t, id, res, before)
		// The bound passed with the app still down, so the remediation ran,
		// and the steady state came back after it.
		var recovery []bool
		for _, r := range res.Timeline {
			if r.Phase == "recovery" {
				recovery = append(recovery, r.OK)
			}
		}
		if len(recovery) < 2 || recovery[0] || !recovery[len(recovery)-1] {
			t.Errorf("recovery rounds %v: want failing rounds through the bound, then one that holds", recovery)
		}
		childID := id + "-restart-app"
		if len(res.Remediation) != 1 || res.Remediation[0].Name != "restart-app" || res.Remediation[0].Status != "done" ||
			res.Remediation[0].Detail != childID+": "+workflows.ConfigureSucceeded {
			t.Errorf("remediation %+v: want restart-app done with ConfigureHosts %s succeeded", res.Remediation, childID)
		}
		if run := p.childRuns(t, id)[childID]; run != [2]string{"ConfigureHosts", "completed"} {
			t.Errorf("the remediation's child in the history: %v, want ConfigureHosts completed", run)
		}
		if res.RecoveredAt.IsZero() || res.RecoveredAt.Before(res.RolledBackAt) || res.TimeToRecover == "" {
			t.Errorf("recovered at %s (rolled back at %s, time to recover %q): want a recovery after the rollback",
				res.RecoveredAt, res.RolledBackAt, res.TimeToRecover)
		}
		after, alive := appPID(t, host)
		if !alive || after == before || isApp(before) {
			t.Errorf("app PID %d (alive %v) after the game day, %d before (alive %v): want a new process, the old one gone", after, alive, before, isApp(before))
		}
		if _, ok := appAnswers(t, host); !ok {
			t.Error("the app does not answer after the remediation")
		}
		if want := "the steady state did not return within 3s; it returned after the remediation (restart-app done)"; res.Reason != want {
			t.Errorf("reason %q, want %q", res.Reason, want)
		}
		post := p.webhook.waitFor(t, "Game day the app comes back after its process is killed: not-held", "after the remediation (restart-app done)",
			"recovered in "+res.TimeToRecover)
		if strings.Contains(post.Text, "People are needed") {
			t.Errorf("chat was told people are needed although the app came back: %s", post.Text)
		}
		before = after
	})

	t.Run("remediation fails and people are called", func(t *testing.T) {
		id := "gameday-kill-app-for-good"
		// The remediation names a host the stack does not have (as after a
		// rename): ConfigureHosts refuses it, and the app stays down.
		remediation := gameday.Action{Name: "restart-app", Kind: gameday.ActionConfigureHosts,
			Input: json.RawMessage(`{"playbook": "app.yml", "limit": ["gdkill-web-host-9"], ` + stackInventory + `}`)}
		p.startGameDay(t, id, spec("the app stays down after its process is killed", remediation))
		res, status := p.gameDayOutcome(t, id)
		t.Logf("%s %s: %s; people needed %v", status, res.Outcome, res.Reason, res.PeopleNeeded)
		if status != "COMPLETED" || res.Outcome != workflows.GameDayNotHeld || !res.PeopleNeeded || !res.RecoveredAt.IsZero() || res.Score != 0 {
			t.Fatalf("%s %s (%s), people needed %v, recovered at %s, score %d: want not-held, people needed, no recovery, score 0",
				status, res.Outcome, res.Reason, res.PeopleNeeded, res.RecoveredAt, res.Score)
		}
		checkKilledAndRolledBack(t, id, res, before)
		if len(res.Remediation) != 1 || res.Remediation[0].Status != "failed" || !strings.Contains(res.Remediation[0].Detail, "limit[0]") {
			t.Errorf("remediation %+v: want restart-app failed on its limit", res.Remediation)
		}
		if run := p.childRuns(t, id)[id+"-restart-app"]; run != [2]string{"ConfigureHosts", "failed"} {
			t.Errorf("the remediation's child in the history: %v, want ConfigureHosts failed", run)
		}
		for _, r := range res.Timeline {
			if r.Phase == "recovery" && r.OK {
				t.Errorf("a recovery round held with the app down: %+v", r)
			}
		}
		if isApp(before) {
			t.Errorf("the app's process %d still runs", before)
		}
		if want := "the steady state did not return within 3s; nor after the remediation (restart-app failed)"; res.Reason != want {
			t.Errorf("reason %q, want %q", res.Reason, want)
		}
		p.webhook.waitFor(t, "Game day the app stays down after its process is killed: not-held", "nor after the remediation", "People are needed")
	})
}
