package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/workflows"
)

func localInput(stack string, extra string) string {
	return fmt.Sprintf(`{"program": "local", "stack": %q, "requester": "dave", "config": {"namespace": %q, "image": "nginx:1.27"%s}}`, stack, stack, extra)
}

func testDriftTTLAndCompensation(t *testing.T, p *platform) {
	// The four stories use stacks of their own: they run side by side.
	t.Run("drift is reported and remediated after approval", func(t *testing.T) {
		t.Parallel()
		if res, _, err := p.provision(t, "drifty", localInput("drifty", `, "replicas": 2`)); err != nil || res.Status != workflows.ProvisionSucceeded {
			t.Fatalf("up: %+v %v", res, err)
		}
		p.mustKubectl(t, "scale", "deployment", "web", "-n", "drifty", "--replicas=4")

		p.mustTemporal("workflow", "start", "--type", "DriftCheck", "--task-queue", p.taskQueue, "--workflow-id", "drift-check-1",
			"--input", `{"program": "local", "stack": "drifty"}`)
		out := p.mustTemporal("workflow", "result", "--workflow-id", "drift-check-1", "-o", "json")
		var dc struct {
			Result workflows.DriftCheckResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(out), &dc); err != nil {
			t.Fatal(err)
		}
		if len(dc.Result.Drifted) != 1 || dc.Result.Drifted[0].Name != "web" || strings.Join(dc.Result.Drifted[0].Diffs, ",") != "replicas" ||
			dc.Result.Remediation != "provision-local-drifty" {
			t.Fatalf("drift check = %+v, want the Deployment's replicas and a remediation", dc.Result)
		}
		approval := waitPendingApproval(t, p, "provision-local-drifty")
		if _, stderr, err := p.starter("approve", approval, "--as", "carol", "--reason", "restore the declared 2 replicas"); err != nil {
			t.Fatalf("approve: %v %s", err, stderr)
		}
		res, _, err := p.provisionOutcome(t, "provision-local-drifty")
		if err != nil || res.Status != workflows.ProvisionSucceeded || res.Approval == nil || res.Approval.Requester != "drift-check" {
			t.Fatalf("remediation: %+v %v", res, err)
		}
		if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "drifty", "-o", "jsonpath={.spec.replicas}"); got != "2" {
			t.Errorf("after remediation replicas = %s, want the declared 2", got)
		}
	})

	t.Run("an ephemeral stack is destroyed when its TTL runs out", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue,
			"--workflow-id", "provision-local-short", "--input", `{"program": "local", "stack": "short", "ttl": "15s", "config": {"namespace": "short", "image": "nginx:1.27"}}`)
		// A busy machine (the other stories run beside this one) can take
		// minutes to bring the stack up; its TTL starts after.
		deadline := time.Now().Add(4 * time.Minute)
		for {
			if pr, ok := p.progressOf("provision-local-short"); ok && strings.HasPrefix(pr.Phase, "ephemeral until") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the stack never became ephemeral")
			}
			time.Sleep(200 * time.Millisecond)
		}
		p.mustKubectl(t, "get", "namespace", "short")
		p.mustTemporal("workflow", "update", "execute", "--workflow-id", "provision-local-short", "--name", "extendTTL", "--input", `"10s"`)
		res, _, err := p.provisionOutcome(t, "provision-local-short")
		if err != nil || res.Status != workflows.ProvisionExpired {
			t.Fatalf("ephemeral stack: %+v %v", res, err)
		}
		if elapsed := time.Since(start); elapsed < 25*time.Second {
			t.Errorf("destroyed after %v, want after the extended 25s TTL", elapsed)
		}
		if out, err := p.kubectl(t, "get", "namespace", "short"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("namespace short still exists after the TTL: %s", out)
		}
	})

	t.Run("a failed up of a new stack is destroyed", func(t *testing.T) {
		t.Parallel()
		res, status, err := p.provision(t, "broken", localInput("broken", `, "failOnPurpose": true`))
		if err == nil || status != "FAILED" {
			t.Fatalf("want the workflow to fail, got %s %+v", status, res)
		}
		history := p.mustTemporal("workflow", "show", "--workflow-id", "provision-local-broken", "-o", "json")
		for _, want := range []string{"ProvisionFailed", "destroyed the stack this run created", "destroyed: no resources remain"} {
			if !strings.Contains(history, want) {
				t.Errorf("failure lacks %q", want)
			}
		}
		if out, err := p.kubectl(t, "get", "namespace", "broken"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("namespace broken still exists after compensation: %s", out)
		}
	})

	t.Run("a failed up of an existing stack is reverted", func(t *testing.T) {
		t.Parallel()
		if res, _, err := p.provision(t, "rev", localInput("rev", `, "replicas": 2`)); err != nil || res.Status != workflows.ProvisionSucceeded {
			t.Fatalf("up: %+v %v", res, err)
		}
		_, status, _ := p.provision(t, "rev", localInput("rev", `, "replicas": 3, "failOnPurpose": true`))
		history := p.mustTemporal("workflow", "show", "--workflow-id", "provision-local-rev", "-o", "json")
		if status != "FAILED" || !strings.Contains(history, "reverted to the last successful configuration") || !strings.Contains(history, "reverted: 3 resources as of the last successful up") {
			t.Errorf("want a reverted failure, got %s", status)
		}
		if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "rev", "-o", "jsonpath={.spec.replicas}"); got != "2" {
			t.Errorf("after the revert replicas = %s, want 2", got)
		}
		p.mustKubectl(t, "get", "service", "web", "-n", "rev")
	})
}
