package tests

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// platformCheckResult mirrors workflows.PlatformCheckResult as the CLI prints it.
type platformCheckResult struct {
	Tools []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Version string `json:"version"`
		Detail  string `json:"detail"`
	} `json:"tools"`
	Missing []string `json:"missing"`
}

func TestPlatformCheckFromTemporalCLISurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes()
	p.start()

	if code, _ := httpGet(t, "http://"+p.ui+"/"); code != 200 {
		t.Fatalf("Web UI answered %d, want 200", code)
	}
	if _, body := httpGet(t, "http://"+p.metrics+"/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics endpoint lacks go_goroutines:\n%.300s", body)
	}

	p.mustTemporal("workflow", "start", "--type", "PlatformCheck", "--task-queue", p.taskQueue,
		"--workflow-id", "check-before-crash", "--input", "{}")
	var result platformCheckResult
	if err := json.Unmarshal([]byte(p.mustTemporal("workflow", "result", "--workflow-id", "check-before-crash", "-o", "json")), &struct {
		Result *platformCheckResult `json:"result"`
	}{&result}); err != nil {
		t.Fatal(err)
	}
	want := []string{"temporal-server", "pulumi-backend", "temporal", "pulumi", "pulumi-resource-infraflow", "etcd", "kube-apiserver",
		"kube-controller-manager", "kube-scheduler", "kwok", "toxiproxy-server", "toxiproxy-cli", "ansible-playbook", "ansible-lint", "ssh", "sshd", "prometheus", "moto"}
	if len(result.Tools) != len(want) || len(result.Missing) != 0 {
		t.Fatalf("result = %+v, want one ok row for each of %v", result, want)
	}
	for i, row := range result.Tools {
		if row.Name != want[i] || row.Status != "ok" || row.Version == "" {
			t.Errorf("row %d = %+v, want %s ok with a version", i, row, want[i])
		}
	}
	if server := result.Tools[0]; server.Version != "v1.32.1" {
		t.Errorf("temporal-server version = %q, want the embedded v1.32.1", server.Version)
	}
	if backend := result.Tools[1]; backend.Version != "file" || !strings.HasSuffix(backend.Detail, ": 0 stacks") {
		t.Errorf("pulumi-backend = %+v, want the worker's own file backend, with no stack yet", backend)
	}

	// The infraflow search attributes are registered and set.
	if out := p.mustTemporal("workflow", "list", "--query", "InfraflowKind = 'PlatformCheck'", "-o", "json"); !strings.Contains(out, "check-before-crash") {
		t.Errorf("InfraflowKind query did not find the run:\n%s", out)
	}

	p.kill()
	p.start()

	if got := p.workflowList()["check-before-crash"]; got != "WORKFLOW_EXECUTION_STATUS_COMPLETED" {
		t.Fatalf("after SIGKILL and restart, check-before-crash is %q, want completed (list: %v)", got, p.workflowList())
	}
	// The restarted platform still runs workflows.
	p.mustTemporal("workflow", "execute", "--type", "PlatformCheck", "--task-queue", p.taskQueue,
		"--workflow-id", "check-after-restart", "--input", `{"tools": ["temporal-server"]}`)
	list := p.workflowList()
	if list["check-before-crash"] == "" || list["check-after-restart"] != "WORKFLOW_EXECUTION_STATUS_COMPLETED" {
		t.Errorf("workflow list after restart = %v, want both runs", list)
	}
}

func testInvalidInputFailsAtOnceNamingTheField(t *testing.T, p *platform) {
	cases := map[string]string{
		"unknown-field": `{"toolz": ["pulumi"]}`,
		"wrong-type":    `{"tools": "pulumi"}`,
	}
	wantInMessage := map[string]string{
		"unknown-field": `field \"toolz\": is not a known field; known fields: tools`,
		"wrong-type":    `field \"tools\": got a JSON string, want array of string`,
	}
	for id, input := range cases {
		p.mustTemporal("workflow", "start", "--type", "PlatformCheck", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", input)
		out, err := p.temporal("workflow", "result", "--workflow-id", id, "-o", "json")
		if err == nil {
			t.Fatalf("%s: workflow result succeeded, want a failure:\n%s", id, out)
		}
		history := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")
		for _, want := range []string{`"nonRetryable": true`, `"type": "InvalidInput"`, wantInMessage[id], "WORKFLOW_EXECUTION_FAILED"} {
			if !strings.Contains(history, want) {
				t.Errorf("%s: history lacks %s:\n%s", id, want, history)
			}
		}
		// "At once": the first workflow task fails the workflow; nothing was scheduled.
		if strings.Contains(history, "ACTIVITY_TASK_SCHEDULED") || strings.Count(history, "WORKFLOW_TASK_STARTED") != 1 {
			t.Errorf("%s: want one workflow task and no activity before failing:\n%s", id, history)
		}
	}
}

func testStarterValidatesFollowsAndLists(t *testing.T, p *platform) {

	// Bad input is refused before anything starts.
	_, stderr, err := p.starter("platform-check", "--id", "starter-refused", "--input", `{"tools": ["pulumi", "terraform"]}`)
	if err == nil || !strings.Contains(stderr, `field "tools[1]": unknown tool "terraform"; use one of:`) {
		t.Errorf("starter accepted bad input (err %v):\n%s", err, stderr)
	}
	if status, started := p.workflowList()["starter-refused"]; started {
		t.Errorf("refused input still started a workflow: starter-refused is %s", status)
	}

	stdout, stderr, err := p.starter("platform-check", "--id", "starter-check", "--wait", "--input", `{"tools": ["temporal-server", "ssh"]}`)
	if err != nil {
		t.Fatalf("starter platform-check --wait: %v\n%s", err, stderr)
	}
	for _, want := range []string{"workflow ID: starter-check", "http://" + p.ui + "/namespaces/default/workflows/starter-check/", "2/2"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("starter output lacks %q:\n%s", want, stderr)
		}
	}
	var result platformCheckResult
	if err := json.Unmarshal([]byte(stdout), &result); err != nil || len(result.Tools) != 2 {
		t.Errorf("starter printed %q (%v), want the 2-row result", stdout, err)
	}

	stdout, stderr, err = p.starter("doctor")
	if err != nil {
		t.Fatalf("starter doctor: %v\n%s%s", err, stdout, stderr)
	}
	for _, want := range []string{`TOOL\s+STATUS`, `temporal-server\s+ok\s+v1\.32\.1`, `pulumi-backend\s+ok\s+file\s+file:///\S+: \d+ stacks`, `pulumi\s+ok\s+v3\.259\.0`, `ansible-playbook\s+ok`} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("doctor table lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, err = p.starter("list", "--all")
	if err != nil || !strings.Contains(stdout, "starter-check") || !strings.Contains(stdout, "PlatformCheck") {
		t.Errorf("starter list --all = %q, %v; want starter-check listed", stdout, err)
	}
}

func TestCtrlCStopsWorkerThenServer(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes()
	p.start()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("worker --dev exited with %v after SIGINT:\n%s", err, p.log)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("worker --dev still running 60s after SIGINT:\n%s", p.log)
	}
	out := p.log.String()
	worker, server := strings.Index(out, "stopping worker"), strings.Index(out, "server stopped")
	if worker < 0 || server < worker {
		t.Errorf("want the worker stopped before the server:\n%s", out)
	}
}
