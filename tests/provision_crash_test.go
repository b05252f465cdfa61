package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/workflows"
)

// progressOf asks a workflow's progress query.
func (p *platform) progressOf(id string) (workflows.Progress, bool) {
	var pr workflows.Progress
	return pr, p.query(id, "progress", &pr)
}

// pulumiExport runs the real `pulumi stack export` on a stack of the worker's
// file backend.
func pulumiExport(t *testing.T, stateDir, stack string) map[string]any {
	t.Helper()
	return pulumiExportFrom(t, "file://"+filepath.Join(stateDir, "state"), stack)
}

// pulumiExportFrom runs `pulumi stack export` against a backend URL, with the
// passphrase every worker of the tests is given (TestMain).
func pulumiExportFrom(t *testing.T, backend, stack string) map[string]any {
	t.Helper()
	pulumi, err := findTool("pulumi")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pulumi, "stack", "export", "--stack", "organization/infraflow-local/"+stack)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PULUMI_BACKEND_URL="+backend, "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pulumi stack export --stack %s (%s): %v", stack, backend, err)
	}
	var export struct {
		Deployment map[string]any `json:"deployment"`
	}
	if err := json.Unmarshal(out, &export); err != nil {
		t.Fatal(err)
	}
	return export.Deployment
}

func TestProvisionSurvivesWorkerSIGKILL(t *testing.T) {
	// Mostly waiting (engine runs, heartbeat timeouts after each kill): it runs
	// beside the configuration tests. Its stacks have their own names.
	t.Parallel()
	p := newPlatform(t)
	workerArgs, workerData := p.startWithSeparateWorker("provision")
	queue := p.taskQueue

	// The phase in which the worker is killed: before the engine runs, while
	// it applies (some resources done), and after it finished.
	killWhen := map[string]func(workflows.Progress) bool{
		"preview": func(pr workflows.Progress) bool { return pr.Phase == "preview" },
		"during":  func(pr workflows.Progress) bool { return pr.Phase == "up" && pr.Done >= 1 && pr.Done < pr.Total },
		"after":   func(pr workflows.Progress) bool { return pr.Phase == "verifying" },
	}
	// Each host boots for a few seconds, as a VM would: without it the whole
	// apply takes well under a second and no poll can land inside it.
	bootDelay := []string{"INFRAFLOW_LOCAL_HOST_BOOT_DELAY=4s"}
	var clean map[string]any
	for _, point := range []string{"clean", "preview", "during", "after"} {
		t.Run(point, func(t *testing.T) {
			worker := startProcessWithEnv(t, bootDelay, workerBin, workerArgs...)
			stack := "crash-" + point
			id := workflows.ProvisionWorkflowID("local", stack)
			input := fmt.Sprintf(`{"program": "local", "stack": %q, "config": {"namespace": %q, "image": "nginx:1.27", "replicas": 3, "hosts": 3}}`, stack, stack)
			p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", queue, "--workflow-id", id, "--input", input)

			if point != "clean" {
				deadline := time.Now().Add(4 * time.Minute)
				for {
					if pr, ok := p.progressOf(id); ok && killWhen[point](pr) {
						killedTmp := scratchDirsOf(t, workerData, worker.cmd.Process.Pid)
						worker.kill()
						t.Logf("killed the worker at %+v", pr)
						if len(killedTmp) != 1 {
							t.Errorf("the killed worker had temporary directories %v, want its one", killedTmp)
						} else if open, _ := filepath.Glob(filepath.Join(killedTmp[0], "infraflow-pulumi-*")); point == "during" && len(open) == 0 {
							t.Errorf("the worker killed while it applied had no Pulumi workspace in %s", killedTmp[0])
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the workflow never reached the %s kill point", point)
					}
					time.Sleep(250 * time.Millisecond)
				}
				worker = startProcessWithEnv(t, bootDelay, workerBin, workerArgs...)
				// The restarted worker removed what the killed one left in its
				// temporary directory (its open Pulumi workspace, its plan file).
				if left := scratchDirsOf(t, workerData, 0); len(left) != 1 || !strings.HasPrefix(filepath.Base(left[0]), fmt.Sprintf("pid-%d-", worker.cmd.Process.Pid)) {
					t.Errorf("temporary directories after the restart: %v, want only the new worker's (pid %d)", left, worker.cmd.Process.Pid)
				}
			}

			res, status, err := p.provisionOutcome(t, id)
			if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded || !res.Verified.InSync {
				t.Fatalf("after the kill: %s %+v %v", status, res, err)
			}
			t.Logf("recovered: %v", res.Recovered)
			// The retried apply on the restarted worker was held to the plan
			// the first preview saved in the backend, beside the state.
			if _, err := os.Stat(filepath.Join(workerData, "pulumi", "state", ".infraflow", "plans", "infraflow-local", stack, strings.TrimPrefix(res.AppliedPlan, "sha256:")+".json")); err != nil || res.AppliedPlan == "" {
				t.Errorf("applied plan %q: %v, want a saved plan beside the state", res.AppliedPlan, err)
			}

			deployment := pulumiExport(t, filepath.Join(workerData, "pulumi"), stack)
			if pending, ok := deployment["pending_operations"]; ok && len(pending.([]any)) > 0 {
				t.Errorf("pulumi stack export has pending operations: %v", pending)
			}
			resources, _ := deployment["resources"].([]any)
			if got := countOwn(resources); got != 6 {
				t.Errorf("state holds %d resources, want 6 (namespace, deployment, service, 3 hosts)", got)
			}
			if out := p.mustKubectl(t, "get", "deployments,services", "-n", stack, "-o", "name"); strings.Count(out, "\n") != 2 {
				t.Errorf("objects in %s:\n%s want one deployment and one service", stack, out)
			}
			if out := p.mustKubectl(t, "get", "pods", "-n", stack, "-o", "name"); strings.Count(out, "\n") != 3 {
				t.Errorf("pods in %s:\n%s want 3", stack, out)
			}
			for _, h := range hostsOf(t, res.Outputs) {
				if out, err := sshRun(h, "echo up"); err != nil || !strings.Contains(out, "up") {
					t.Errorf("host %s does not answer: %v %s", h.Name, err, out)
				}
			}
			summary := map[string]any{"namespace": res.Outputs["namespace"], "readyReplicas": res.Outputs["readyReplicas"], "hosts": len(hostsOf(t, res.Outputs))}
			if point == "clean" {
				clean = summary
				clean["namespace"] = "ns"
			} else {
				summary["namespace"] = "ns"
				if fmt.Sprint(summary) != fmt.Sprint(clean) {
					t.Errorf("outputs %v differ from a clean run's %v", summary, clean)
				}
			}
			worker.kill()
		})
	}
	// No orphaned hosts: one sshd per declared host across all four stacks.
	out, _ := exec.Command("pgrep", "-fc", filepath.Join(workerData, "pulumi", "hosts", "ssh")).Output()
	if got := strings.TrimSpace(string(out)); got != "12" {
		t.Errorf("%s sshd processes for 4 stacks of 3 hosts, want 12 (no duplicates or orphans)", got)
	}
}

// countOwn counts the stack's own resources in an exported state.
func countOwn(resources []any) int {
	n := 0
	for _, r := range resources {
		typ, _ := r.(map[string]any)["type"].(string)
		if typ != "pulumi:pulumi:Stack" && !strings.HasPrefix(typ, "pulumi:providers:") {
			n++
		}
	}
	return n
}

// scratchDirsOf lists the workers' temporary directories under a data
// directory: those of one pid, or with pid 0 all of them.
func scratchDirsOf(t *testing.T, dataDir string, pid int) []string {
	t.Helper()
	pattern := "pid-*"
	if pid != 0 {
		pattern = fmt.Sprintf("pid-%d-*", pid)
	}
	dirs, err := filepath.Glob(filepath.Join(dataDir, "tmp", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
