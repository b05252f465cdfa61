package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/workflows"
	"go.temporal.io/api/workflowservice/v1"
)

// provision starts ProvisionStack from the temporal CLI and waits for its result.
func (p *platform) provision(t *testing.T, stack, input string) (workflows.ProvisionResult, string, error) {
	t.Helper()
	id := workflows.ProvisionWorkflowID("local", stack)
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", input)
	return p.provisionOutcome(t, id)
}

func (p *platform) provisionOutcome(t *testing.T, id string) (workflows.ProvisionResult, string, error) {
	t.Helper()
	out, err := p.temporal("workflow", "result", "--workflow-id", id, "-o", "json")
	var res struct {
		Status string                    `json:"status"`
		Result workflows.ProvisionResult `json:"result"`
	}
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		t.Fatalf("workflow result %s: %v %v\n%s", id, jerr, err, out)
	}
	return res.Result, res.Status, err
}

// historyEvents counts a workflow's history events, and those of one type.
func (p *platform) historyEvents(t *testing.T, id, eventType string) (all, ofType int) {
	t.Helper()
	var history struct {
		Events []struct {
			EventType string `json:"eventType"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")), &history); err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	for _, e := range history.Events {
		if e.EventType == eventType {
			ofType++
		}
	}
	return len(history.Events), ofType
}

// kubectl runs the real kubectl against the platform's control plane.
func (p *platform) kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *platform) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

type sshHost struct {
	Name           string  `json:"name"`
	Address        string  `json:"address"`
	Port           float64 `json:"port"`
	User           string  `json:"user"`
	PrivateKeyPath string  `json:"privateKeyPath"`
	Root           string  `json:"root"`
	AppPort        float64 `json:"appPort"`
}

func hostsOf(t *testing.T, outputs map[string]any) []sshHost {
	t.Helper()
	raw, _ := json.Marshal(outputs["hosts"])
	var hosts []sshHost
	if err := json.Unmarshal(raw, &hosts); err != nil {
		t.Fatalf("outputs.hosts %s: %v", raw, err)
	}
	return hosts
}

func sshRun(h sshHost, command string) (string, error) {
	out, err := exec.Command("ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=5", "-i", h.PrivateKeyPath, "-p", fmt.Sprint(int(h.Port)), h.User+"@"+h.Address, command).CombinedOutput()
	return string(out), err
}

func testProvisionLocalStackFromTemporalCLI(t *testing.T, p *platform) {
	res, status, err := p.provision(t, "e2e", `{"program": "local", "stack": "e2e", "requester": "dave",
		"config": {"namespace": "e2e-apps", "app": "shop", "image": "nginx:1.27", "replicas": 2, "hosts": 2}}`)
	if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provision: %s %+v %v", status, res, err)
	}
	if res.Policy.Outcome != "allow" || res.Verified == nil || !res.Verified.InSync || res.Plan.Summary["create"] != 5 {
		t.Errorf("result = %+v, want policy allow, 5 creates, verified in sync", res)
	}
	if !strings.Contains(p.mustKubectl(t, "get", "deployment", "shop", "-n", "e2e-apps", "-o", "jsonpath={.status.readyReplicas}"), "2") {
		t.Errorf("kubectl: deployment shop is not 2/2 ready")
	}
	if ip := p.mustKubectl(t, "get", "service", "shop", "-n", "e2e-apps", "-o", "jsonpath={.spec.clusterIP}"); ip == "" || ip != res.Outputs["serviceClusterIP"] {
		t.Errorf("kubectl service IP %q, outputs say %v", ip, res.Outputs["serviceClusterIP"])
	}
	hosts := hostsOf(t, res.Outputs)
	if len(hosts) != 2 || !strings.Contains(fmt.Sprint(res.Outputs["inventory"]), "e2e-shop-host-2:") {
		t.Fatalf("outputs: hosts %+v, inventory %v", hosts, res.Outputs["inventory"])
	}
	for _, h := range hosts {
		if out, err := sshRun(h, "echo answered"); err != nil || !strings.Contains(out, "answered") {
			t.Errorf("ssh %s: %v %s", h.Name, err, out)
		}
	}
	// Engine progress reaches the workflow as signals, each an event in its
	// history: at most one per resource done, plus the first.
	events, signals := p.historyEvents(t, workflows.ProvisionWorkflowID("local", "e2e"), "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED")
	t.Logf("history of a 5-resource provisioning: %d events, %d progress signals", events, signals)
	if signals > 5+1 {
		t.Errorf("%d progress signals for 5 resources: want at most 6", signals)
	}

	res, status, err = p.provision(t, "e2e", `{"program": "local", "stack": "e2e", "operation": "destroy",
		"config": {"namespace": "e2e-apps", "app": "shop", "image": "nginx:1.27", "replicas": 2, "hosts": 2}}`)
	if err != nil || res.Status != workflows.ProvisionSucceeded || res.Plan.Summary["delete"] != 5 {
		t.Fatalf("destroy: %s %+v %v", status, res, err)
	}
	if out, err := p.kubectl(t, "get", "namespace", "e2e-apps"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("namespace still there after destroy: %s", out)
	}
	for _, h := range hosts {
		if _, err := sshRun(h, "true"); err == nil {
			t.Errorf("host %s still answers after destroy", h.Name)
		}
		if out, _ := exec.Command("pgrep", "-f", filepath.Dir(h.PrivateKeyPath)).Output(); len(out) > 0 {
			t.Errorf("sshd of %s still running: %s", h.Name, out)
		}
	}
}

func testPolicyGatesProvisioning(t *testing.T, p *platform) {
	cfg := func(replicas int, image string) string {
		return fmt.Sprintf(`{"program": "local", "stack": "gated", "requester": "dave",
			"config": {"namespace": "gated", "image": %q, "replicas": %d}}`, image, replicas)
	}
	if res, _, err := p.provision(t, "gated", cfg(2, "nginx:1.27")); err != nil || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("first up: %+v %v", res, err)
	}

	// Above the policy's threshold: it waits for an approval, which is given.
	id := workflows.ProvisionWorkflowID("local", "gated")
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", cfg(8, "nginx:1.27"))
	approval := waitPendingApproval(t, p, id)
	if _, stderr, err := p.starter("approve", approval, "--as", "alice", "--reason", "load test this afternoon"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	res, _, err := p.provisionOutcome(t, id)
	if err != nil || res.Status != workflows.ProvisionSucceeded || res.Approval == nil || res.Approval.Status != workflows.ApprovalApproved ||
		!strings.Contains(strings.Join(res.Policy.RequireApproval, " "), "scales to 8 replicas") {
		t.Fatalf("approved scale-up: %+v %v", res, err)
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gated", "-o", "jsonpath={.spec.replicas}"); got != "8" {
		t.Errorf("after the approved change, replicas = %s, want 8", got)
	}

	// Rejected: nothing changes, and the result says so and why.
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", cfg(12, "nginx:1.27"))
	approval = waitPendingApproval(t, p, id)
	// A second request for the same stack while this one runs is refused, naming it.
	if _, err := p.temporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id,
		"--fail-existing", "--input", cfg(3, "nginx:1.27")); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second request for a busy stack was not refused: %v", err)
	}
	if _, stderr, err := p.starter("provision", "--input", cfg(3, "nginx:1.27")); err == nil || !strings.Contains(stderr, id) {
		t.Errorf("starter provision on a busy stack: %v %s, want refused naming %s", err, stderr, id)
	}
	if _, stderr, err := p.starter("reject", approval, "--as", "bob", "--reason", "12 is too many for this cluster"); err != nil {
		t.Fatalf("reject: %v %s", err, stderr)
	}
	res, _, err = p.provisionOutcome(t, id)
	if err != nil || res.Status != workflows.ProvisionRejected || !strings.Contains(res.Reason, "12 is too many for this cluster") || !strings.Contains(res.Reason, "nothing was changed") {
		t.Fatalf("rejected scale-up: %+v %v", res, err)
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gated", "-o", "jsonpath={.spec.replicas}"); got != "8" {
		t.Errorf("after the rejected change, replicas = %s, want still 8", got)
	}

	// Denied outright by policy.
	res, _, err = p.provision(t, "gated", cfg(2, "nginx:latest"))
	if err != nil || res.Status != workflows.ProvisionDenied || !strings.Contains(res.Reason, "pin an image tag") {
		t.Fatalf("unpinned image: %+v %v", res, err)
	}

	// While an approval waits, the Service is deleted and the image changed by
	// hand. The approval of the old plan covers neither recreating the one nor
	// reverting the other: people are asked again, shown both diffs, and
	// nothing changes until they approve.
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", cfg(10, "nginx:1.27"))
	first := waitPendingApproval(t, p, id)
	p.mustKubectl(t, "delete", "service", "web", "-n", "gated")
	p.mustKubectl(t, "set", "image", "deployment/web", "*=nginx:1.26", "-n", "gated")
	if _, stderr, err := p.starter("approve", first, "--as", "alice", "--reason", "10 for the launch"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	second := waitPendingApprovalAfter(t, p, id, first)
	if shown := p.decodedHistory(t, second); !strings.Contains(shown, "Approved before") || !strings.Contains(shown, "What would happen now") ||
		!strings.Contains(shown, "infraflow:kubernetes:Service") || !strings.Contains(shown, "nginx:1.26") {
		t.Errorf("the new approval request does not show both diffs:\n%s", shown)
	}
	if out, err := p.kubectl(t, "get", "service", "web", "-n", "gated"); err == nil {
		t.Errorf("the Service came back before the changed plan was approved:\n%s", out)
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gated", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"); got != "8 nginx:1.26" {
		t.Errorf("before the changed plan was approved, the deployment is %q, want it untouched (8 nginx:1.26)", got)
	}
	if _, stderr, err := p.starter("approve", second, "--as", "alice", "--reason", "put the Service back too"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	res, _, err = p.provisionOutcome(t, id)
	if err != nil || res.Status != workflows.ProvisionSucceeded || len(res.StalePlans) != 1 || !strings.HasPrefix(res.AppliedPlan, "sha256:") {
		t.Fatalf("the re-approved change: %+v %v", res, err)
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gated", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"); got != "10 nginx:1.27" {
		t.Errorf("after the re-approved change, the deployment is %q, want 10 nginx:1.27", got)
	}
	p.mustKubectl(t, "get", "service", "web", "-n", "gated")

	// A saved plan changed while its approval waits is refused: nothing is
	// applied, and the result says which file and why.
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", cfg(9, "nginx:1.27"))
	third := waitPendingApprovalAfter(t, p, id, second)
	digest := regexp.MustCompile(`Saved plan: sha256:([0-9a-f]{64})`).FindStringSubmatch(p.decodedHistory(t, third))
	if digest == nil {
		t.Fatal("the approval request does not name its saved plan")
	}
	planFile := filepath.Join(p.dataDir, "pulumi", "state", ".infraflow", "plans", "infraflow-local", "gated", digest[1]+".json")
	data, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatalf("the approved plan is not beside the state: %v", err)
	}
	if err := os.WriteFile(planFile, append(data, ' '), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := p.starter("approve", third, "--as", "alice", "--reason", "9 is fine"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	// A failed run's result is in its failure's details.
	if _, status, _ := p.provisionOutcome(t, id); status != "FAILED" {
		t.Errorf("a changed plan file: %s, want FAILED", status)
	}
	if history := p.decodedHistory(t, id); !strings.Contains(history, `"status":"`+workflows.ProvisionPlanRefused+`"`) ||
		!strings.Contains(history, digest[1]+".json was changed after it was saved") || !strings.Contains(history, "nothing was applied") {
		t.Errorf("the refused run's history does not say the plan file was changed and nothing applied")
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gated", "-o", "jsonpath={.spec.replicas}"); got != "10" {
		t.Errorf("after the refused plan, replicas = %s, want still 10", got)
	}
}

// waitPendingApprovalAfter waits for a pending approval of the provisioning
// other than the one already decided.
func waitPendingApprovalAfter(t *testing.T, p *platform, provisionID, decided string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if id := waitPendingApproval(t, p, provisionID); id != decided {
			return id
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no new pending approval for %s after %s", provisionID, decided)
	return ""
}

// waitPendingApproval waits for the provisioning's approval child to be
// pending, with its approvers known.
// It polls visibility through the SDK: the temporal CLI is what the tests
// check, not how they wait (a CLI run costs a third of a CPU-second).
func waitPendingApproval(t *testing.T, p *platform, provisionID string) string {
	t.Helper()
	c := p.sdkClient()
	query := fmt.Sprintf("InfraflowApprovalState='pending' AND WorkflowId STARTS_WITH '%s-approval-'", provisionID)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query})
		// Pending is upserted before the approvers are resolved (an
		// activity), and until then every decision is refused: the request
		// is open once its state names who may decide.
		if err == nil && len(resp.GetExecutions()) == 1 {
			id := resp.GetExecutions()[0].GetExecution().GetWorkflowId()
			var st workflows.ApprovalStatus
			if v, err := c.QueryWorkflow(context.Background(), id, "", workflows.ApprovalStateQuery); err == nil && v.Get(&st) == nil && len(st.Eligible) > 0 {
				return id
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no open approval for %s", provisionID)
	return ""
}

func testProvisionBadInputFailsBeforeAnyPulumiCall(t *testing.T, p *platform) {
	cases := map[string]string{
		`{"program": "terraform", "stack": "x", "config": {"image": "nginx:1.27"}}`:                  `field \"program\": unknown program \"terraform\"; use one of: aws, kubernetes, local`,
		`{"program": "local", "stack": "x", "config": {"image": "nginx:1.27", "replica": 2}}`:        `field \"config.replica\": is not a setting of the local program; known keys:`,
		`{"program": "local", "stack": "x", "config": {"image": "nginx:1.27", "replicas": "three"}}`: `field \"config.replicas\": got a string, want integer`,
		`{"program": "local", "stack": "x", "config": {"replicas": 2}}`:                              `field \"config.image\": is required`,
	}
	for input, want := range cases {
		id := "provision-local-x"
		p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", input)
		_, _, _ = p.provisionOutcome(t, id)
		history := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")
		for _, w := range []string{want, `"nonRetryable": true`, `"type": "InvalidInput"`} {
			if !strings.Contains(history, w) {
				t.Errorf("%s: history lacks %s", input, w)
			}
		}
		if strings.Contains(history, "ACTIVITY_TASK_SCHEDULED") {
			t.Errorf("%s: an activity ran before the input was refused", input)
		}
	}
	// The workflow ID is the stack lock: another ID is refused with the fix.
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", "my-own-id",
		"--input", `{"program": "local", "stack": "x", "config": {"image": "nginx:1.27"}}`)
	if _, _, err := p.provisionOutcome(t, "my-own-id"); err == nil || !strings.Contains(p.mustTemporal("workflow", "show", "--workflow-id", "my-own-id", "-o", "json"), "--workflow-id provision-local-x") {
		t.Errorf("a ProvisionStack under another workflow ID was not refused with the fix: %v", err)
	}

	// A drift check of a stack that was never created is bad input too, and
	// leaves no empty stack behind.
	p.mustTemporal("workflow", "start", "--type", "DriftCheck", "--task-queue", p.taskQueue, "--workflow-id", "drift-nostack",
		"--input", `{"program": "local", "stack": "doesnotexist"}`)
	if out, err := p.temporal("workflow", "result", "--workflow-id", "drift-nostack", "-o", "json"); err == nil {
		t.Errorf("DriftCheck of a stack that does not exist succeeded:\n%s", out)
	}
	history := p.mustTemporal("workflow", "show", "--workflow-id", "drift-nostack", "-o", "json")
	for _, w := range []string{`field \"stack\": program local has no stack \"doesnotexist\"`, `"nonRetryable": true`, `"type": "InvalidInput"`} {
		if !strings.Contains(history, w) {
			t.Errorf("DriftCheck of a missing stack: history lacks %s", w)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(p.dataDir, "pulumi", "state", ".pulumi", "stacks", "infraflow-local", "doesnotexist*")); len(leftovers) > 0 {
		t.Errorf("DriftCheck of a missing stack created it: %v", leftovers)
	}
}
