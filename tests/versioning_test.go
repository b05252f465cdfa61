package tests

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/workflows"
)

// The release story of Worker Deployment Versioning: an Approval waits on
// build A; build B ships a changed Approval (tests/testdata/nextrelease,
// patched with workflow.GetVersion) and becomes current; A is stopped. The
// waiting Approval (AutoUpgrade) moves to B, replays its history there and
// completes when decided; a new Approval runs B's code from its first step.
func TestApprovalMovesToTheNextBuildAndCompletes(t *testing.T) {
	t.Parallel()
	nextBin := nextRelease.binary(t)
	p := newPlatform(t).withoutKubernetes()
	workerArgs, _ := p.startWithSeparateWorker("versioned")
	workerArgs = append(workerArgs, "--chat-webhook-url", p.webhook.url(), "--deployment-name", "infraflow-e2e")
	buildA := startProcess(t, workerBin, append(workerArgs, "--build-id", "A")...)
	p.setCurrentBuild(t, "infraflow-e2e", "A")

	approval := `{"title": "rotate keys", "requester": "dave", "approvers": ["alice"]}`
	p.startApproval("before-release", approval)
	p.webhook.waitFor(t, "before-release", "rotate keys")
	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if build, behavior := versioning(t, c, "before-release"); build != "A" || behavior != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE {
		t.Fatalf("before-release runs on build %q with behavior %v, want A and AutoUpgrade", build, behavior)
	}

	startProcess(t, nextBin, append(workerArgs, "--build-id", "B")...)
	p.setCurrentBuild(t, "infraflow-e2e", "B")
	buildA.kill()

	if reply := p.chatSend(t, slashCommand("U0ALICE", "approve before-release keys are old")); reply.status != 200 {
		t.Fatalf("chat approve answered %d %q", reply.status, reply.Text)
	}
	if st := p.approvalResult("before-release"); st.Status != workflows.ApprovalApproved || strings.Join(st.Approvals, ",") != "alice" {
		t.Errorf("before-release = %+v, want approved by alice", st)
	}
	history := p.decodedHistory(t, "before-release")
	if strings.Contains(history, nextReleaseChange) {
		t.Errorf("before-release recorded the next release's change; an upgraded run must replay as it began")
	}
	if !completedBy(t, c, "before-release", "B") {
		t.Errorf("before-release did not finish on build B")
	}

	p.startApproval("after-release", approval)
	p.webhook.waitFor(t, "after-release", "rotate keys")
	if build, _ := versioning(t, c, "after-release"); build != "B" {
		t.Errorf("after-release runs on build %q, want B", build)
	}
	if !strings.Contains(p.decodedHistory(t, "after-release"), nextReleaseChange) {
		t.Errorf("after-release did not run the next release's Approval (no %s marker)", nextReleaseChange)
	}
	if reply := p.chatSend(t, slashCommand("U0ALICE", "approve after-release fine")); reply.status != 200 {
		t.Fatalf("chat approve answered %d %q", reply.status, reply.Text)
	}
	if st := p.approvalResult("after-release"); st.Status != workflows.ApprovalApproved {
		t.Errorf("after-release = %+v, want approved", st)
	}
}

// nextReleaseChange is the GetVersion change ID of the next release's Approval.
const nextReleaseChange = "next-release-announces-itself"

// release is a worker as a next release would ship it: the files of
// tests/testdata/nextrelease compiled into its packages with `go build
// -overlay`, once per test run.
type release struct {
	// files maps a file the release adds (repository-relative) to its source.
	files map[string]string
	once  sync.Once
	bin   string
	err   error
}

func (r *release) build() (string, error) {
	r.once.Do(func() { r.bin, r.err = buildWithOverlay(r.files) })
	return r.bin, r.err
}

// binary waits for the release's worker, which TestMain starts building when
// a test that needs it will run. A test waits before it takes a platform
// slot: a slot held while the linker works keeps another test from running.
func (r *release) binary(t *testing.T) string {
	t.Helper()
	bin, err := r.build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var (
	// nextRelease changes Approval, tightens the catalog and changes the
	// local program.
	nextRelease = &release{files: map[string]string{
		"workflows/zz_next_release.go":    "tests/testdata/nextrelease/approval_change.go",
		"stacks/zz_next_release.go":       "tests/testdata/nextrelease/catalog_change.go",
		"stacks/local/zz_next_release.go": "tests/testdata/nextrelease/program_change.go",
	}}
	// policyRelease changes only the policies: one more deny rule.
	policyRelease = &release{files: map[string]string{
		"stacks/policies/zz_next_release.rego": "tests/testdata/nextrelease/policy_change.rego",
	}}
)

// releaseTests are the tests that need a release's worker.
var releaseTests = map[string]*release{
	"TestApprovalMovesToTheNextBuildAndCompletes":     nextRelease,
	"TestRunningProvisionSurvivesATightenedCatalog":   nextRelease,
	"TestApprovedPlanIsDeniedByTheNextReleasesPolicy": policyRelease,
}

// buildWithOverlay builds the worker with files added. The binary goes to a
// directory named by the overlay, outside the clone: go build leaves a binary
// that is up to date as it is, and linking a worker costs a CPU-minute that
// every run after the first saves.
func buildWithOverlay(files map[string]string) (string, error) {
	replace := map[string]string{}
	for added, src := range files {
		replace[filepath.Join(repoRoot(), added)] = filepath.Join(repoRoot(), src)
	}
	data, err := json.Marshal(map[string]map[string]string{"Replace": replace})
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "infraflow", "test-releases", fmt.Sprintf("%x", sha256.Sum256(data))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, data, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "infraflow-worker")
	cmd := exec.Command("go", "build", "-overlay", overlay, "-o", bin, "./worker")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return bin, nil
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "building a next release: " + e.err.Error() + "\n" + e.out
}

// setCurrentBuild makes a build the deployment's current version, as an
// operator rolls out a release, once its worker has polled.
func (p *platform) setCurrentBuild(t *testing.T, deployment, build string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := p.temporal("worker", "deployment", "set-current-version", "--deployment-name", deployment, "--build-id", build, "--yes")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("set-current-version %s %s: %v\n%s", deployment, build, err, out)
		}
		time.Sleep(time.Second)
	}
}

// versioning reports the build a workflow runs on and its behavior.
func versioning(t *testing.T, c client.Client, id string) (string, enumspb.VersioningBehavior) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	return info.GetDeploymentVersion().GetBuildId(), info.GetBehavior()
}

// completedBy says whether a build completed the workflow's last task.
func completedBy(t *testing.T, c client.Client, id, build string) bool {
	t.Helper()
	hist, err := history(context.Background(), c, id, "")
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, e := range hist.Events {
		if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			last = a.GetDeploymentVersion().GetBuildId()
		}
	}
	return last == build
}

// A ProvisionStack waiting for approval when a release tightens the catalog
// (the local program: at most 2 replicas) completes as it was requested and
// approved, with 3; the new release refuses the same request from then on.
// The release also changes the program, so the approved plan is stale after
// it: the approver is asked again, and the re-approved plan is applied.
func TestRunningProvisionSurvivesATightenedCatalog(t *testing.T) {
	t.Parallel()
	nextBin := nextRelease.binary(t)
	p := newPlatform(t)
	workerArgs, _ := p.startWithSeparateWorker("release")
	workerArgs = append(workerArgs, "--chat-webhook-url", p.webhook.url())
	current := startProcess(t, workerBin, workerArgs...)

	request := func(stack string) string {
		return fmt.Sprintf(`{"program": "local", "stack": %q, "requester": "dave", "approval": {"always": true, "approvers": ["alice"]},
			"config": {"namespace": %q, "image": "nginx:1.27", "replicas": 3}}`, stack, "e2e-"+stack)
	}
	id := workflows.ProvisionWorkflowID("local", "tight")
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", request("tight"))
	approval := waitPendingApproval(t, p, id)

	current.kill()
	startProcess(t, nextBin, workerArgs...)

	refused := workflows.ProvisionWorkflowID("local", "after")
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", refused, "--input", request("after"))
	if _, status, err := p.provisionOutcome(t, refused); status != "FAILED" || err == nil || !strings.Contains(err.Error(), "config.replicas") {
		t.Errorf("the next release accepted 3 replicas (%s, %v); its catalog allows 2", status, err)
	}

	if _, stderr, err := p.starter("approve", approval, "--as", "alice", "--reason", "requested before the release"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	// The release also changed the program: what alice approved is not what
	// would be applied now, so she is asked again, shown both.
	again := waitPendingApprovalAfter(t, p, id, approval)
	if shown := p.decodedHistory(t, again); !strings.Contains(shown, "Approved before") || !strings.Contains(shown, "infraflow.io/release") {
		t.Errorf("the request after the release does not show the program's new label beside the approved plan:\n%s", shown)
	}
	if _, stderr, err := p.starter("approve", again, "--as", "alice", "--reason", "the release's label is fine"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	res, status, err := p.provisionOutcome(t, id)
	if err != nil || res.Status != workflows.ProvisionSucceeded || len(res.StalePlans) != 1 {
		t.Fatalf("the approved request after the release: %s %+v %v", status, res, err)
	}
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "e2e-tight", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas = %s, want the 3 approved", got)
	}
	if got := p.mustKubectl(t, "get", "namespace", "e2e-tight", "-o", `jsonpath={.metadata.labels.infraflow\.io/release}`); got != "next" {
		t.Errorf("the namespace's release label = %q, want the re-approved program's", got)
	}
}

// A ProvisionStack waits for approval when a release withdraws its image by
// policy. Nothing else changes, so the approved plan is still what would
// happen; the new release's policies are asked again before the apply, deny
// it, and nothing is applied.
func TestApprovedPlanIsDeniedByTheNextReleasesPolicy(t *testing.T) {
	t.Parallel()
	nextBin := policyRelease.binary(t)
	p := newPlatform(t)
	workerArgs, _ := p.startWithSeparateWorker("policy")
	current := startProcess(t, workerBin, workerArgs...)

	id := workflows.ProvisionWorkflowID("local", "withdrawn")
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", id, "--input",
		`{"program": "local", "stack": "withdrawn", "requester": "dave", "approval": {"always": true, "approvers": ["alice"]},
		  "config": {"namespace": "e2e-withdrawn", "image": "nginx:1.25", "replicas": 1}}`)
	approval := waitPendingApproval(t, p, id)

	current.kill()
	startProcess(t, nextBin, workerArgs...)
	if _, stderr, err := p.starter("approve", approval, "--as", "alice", "--reason", "approved before the release"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
	res, status, err := p.provisionOutcome(t, id)
	if err != nil || res.Status != workflows.ProvisionDenied || len(res.StalePlans) != 0 ||
		!strings.Contains(res.Reason, "the approved plan is unchanged, but the policies now deny it") || !strings.Contains(res.Reason, "withdrawn by this release") {
		t.Fatalf("the approved plan after the release: %s %+v %v, want denied by the release's policy", status, res, err)
	}
	shown := p.decodedHistory(t, id)
	if strings.Count(shown, `"CheckPolicy"`) != 2 || strings.Contains(shown, `"ApplyStack"`) {
		t.Errorf("history: want the policies asked before the approval and again before the apply, and no ApplyStack")
	}
	if out, err := p.kubectl(t, "get", "namespace", "e2e-withdrawn"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("namespace e2e-withdrawn: %v %s, want nothing applied", err, out)
	}
}
