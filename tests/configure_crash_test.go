package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/workflows"
)

// The worker is SIGKILLed while ansible-playbook is in the middle of the
// apply run (of app.yml, the app role alone: the whole of site.yml is tested
// in testConfigureStackHostsFromTemporalCLI). The kernel stops the orphaned
// ansible-playbook with the worker; the restarted worker runs the
// (idempotent) playbook again, and the hosts end in the declared state.
func TestConfigureSurvivesWorkerSIGKILL(t *testing.T) {
	// The two configuration tests overlap: much of each is waiting (ssh, timers, a
	// heartbeat timeout), and together they are a third of `make test`.
	t.Parallel()
	p := newPlatform(t)
	workerArgs, workerData := p.startWithSeparateWorker("configure")
	worker := startProcess(t, workerBin, workerArgs...)
	res, status, err := p.provision(t, "crash", `{"program": "local", "stack": "crash", "config": {"namespace": "crash", "image": "nginx:1.27", "replicas": 1, "hosts": 2}}`)
	if err != nil || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provision: %s %+v %v", status, res, err)
	}
	hosts := hostsOf(t, res.Outputs)

	id := "configure-crash"
	p.mustTemporal("workflow", "start", "--type", "ConfigureHosts", "--task-queue", p.taskQueue, "--workflow-id", id, "--input",
		`{"playbook": "app.yml", "inventory": {"stack": {"program": "local", "stack": "crash"}}, "extraVars": {"app_message": "survived"}}`)
	var ansible []string // the worker's ansible-playbook processes when it was killed
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if pr, ok := p.configureProgress(id); ok && strings.HasPrefix(pr.Phase, "apply") && pr.Done >= 3 {
			out, _ := exec.Command("pgrep", "-P", strconv.Itoa(worker.cmd.Process.Pid), "-f", "ansible-playbook").Output()
			ansible = strings.Fields(string(out))
			worker.kill()
			t.Logf("killed the worker at %+v", pr.Progress)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the apply run never got halfway")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(ansible) == 0 {
		t.Fatal("the worker ran no ansible-playbook when it was killed")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		alive := slices.DeleteFunc(slices.Clone(ansible), func(pid string) bool {
			n, _ := strconv.Atoi(pid)
			return syscall.Kill(n, 0) != nil
		})
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ansible-playbook %v outlived the killed worker", alive)
		}
	}
	startProcess(t, workerBin, workerArgs...)

	cfg, status := p.configureOutcome(t, id)
	if status != "COMPLETED" || cfg.Status != workflows.ConfigureSucceeded || len(cfg.Hosts) != len(hosts) {
		t.Fatalf("after the kill: %s %+v", status, cfg)
	}
	for _, h := range cfg.Hosts {
		// The interrupted run was retried as the same attempt of the workflow;
		// the second ansible run may find some tasks already done.
		if !slices.Equal(h.History, []string{"changed"}) || len(h.NotIdempotent) != 0 || !h.Verified {
			t.Errorf("host %+v, want one changed attempt, idempotent, verified", h)
		}
	}
	// The interrupted activity was retried: its second attempt started.
	history := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")
	if !regexp.MustCompile(`"attempt":\s*2`).MatchString(history) {
		t.Error("no activity of the history was retried after the kill")
	}
	for _, h := range hosts {
		if msg, ok := appAnswers(t, h); !ok || msg != "survived" {
			t.Errorf("app on %s answered %q", h.Name, msg)
		}
	}
	out, _ := exec.Command("pgrep", "-fc", "bin/app.py --config "+filepath.Join(workerData)).Output()
	if got := strings.TrimSpace(string(out)); got != fmt.Sprint(len(hosts)) {
		t.Errorf("%s app processes for %d hosts, want one each (no duplicates from the interrupted run)", got, len(hosts))
	}

	t.Run("cancelling the workflow stops ansible-playbook", func(t *testing.T) {
		slow := filepath.Join(p.playbooks, "slow.yml")
		id := "configure-cancel"
		p.mustTemporal("workflow", "start", "--type", "ConfigureHosts", "--task-queue", p.taskQueue, "--workflow-id", id, "--input",
			`{"playbook": "slow.yml", "inventory": {"stack": {"program": "local", "stack": "crash"}}}`)
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			if pr, ok := p.configureProgress(id); ok && pr.Current == "Long step" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the slow playbook never reached its long step")
			}
		}
		p.mustTemporal("workflow", "cancel", "--workflow-id", id)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			out, _ := exec.Command("pgrep", "-f", "ansible-playbook.*"+slow).Output()
			if len(strings.TrimSpace(string(out))) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ansible-playbook still runs 60s after the cancellation: %s", out)
			}
		}
		if _, status := p.configureOutcome(t, id); status != "CANCELED" {
			t.Errorf("status %s, want CANCELED", status)
		}
	})
}
