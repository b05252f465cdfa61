package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/workflows"
)

// approvalResult reads a finished approval's result with the temporal CLI.
func (p *platform) approvalResult(id string) workflows.ApprovalStatus {
	p.t.Helper()
	var out struct {
		Status string                   `json:"status"`
		Result workflows.ApprovalStatus `json:"result"`
	}
	raw := p.mustTemporal("workflow", "result", "--workflow-id", id, "-o", "json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		p.t.Fatalf("workflow result %s: %v\n%s", id, err, raw)
	}
	if out.Status != "COMPLETED" {
		p.t.Fatalf("approval %s is %s, want COMPLETED:\n%s", id, out.Status, raw)
	}
	return out.Result
}

func (p *platform) startApproval(id, input string) {
	p.t.Helper()
	p.mustTemporal("workflow", "start", "--type", "Approval", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", input)
}

func testApproveFromChatEndToEnd(t *testing.T, p *platform) {
	p.startApproval("scale-web", `{"title": "scale web to 40 replicas", "requester": "dave", "groups": ["sre"], "payload": "replicas: 10 -> 40"}`)

	request := p.webhook.waitFor(t, "Approval requested by dave", "scale web to 40 replicas", "scale-web")
	blocks, _ := json.Marshal(request.Blocks)
	for _, want := range []string{`"action_id":"approve"`, `"action_id":"reject"`, `"value":"scale-web"`, "replicas: 10 -\\u003e 40"} {
		if !strings.Contains(string(blocks), want) {
			t.Errorf("request message lacks %s:\n%s", want, blocks)
		}
	}
	if out := p.mustTemporal("workflow", "list", "--query", "InfraflowApprovalState='pending'"); !strings.Contains(out, "scale-web") {
		t.Errorf("pending approvals query does not list scale-web:\n%s", out)
	}

	reply := p.chatSend(t, slashCommand("U0ALICE", "approve scale-web diff reviewed, capacity is there"))
	if reply.status != 200 || !strings.Contains(reply.Text, "now approved, 1 of 1 approvals") {
		t.Fatalf("chat approve answered %d %q, want approved", reply.status, reply.Text)
	}

	st := p.approvalResult("scale-web")
	if st.Status != workflows.ApprovalApproved || st.ClosedBy != "alice" {
		t.Errorf("result = %+v, want approved by alice", st)
	}
	if len(st.Audit) != 1 || st.Audit[0].Approver != "alice" || st.Audit[0].Via != "chat" ||
		st.Audit[0].Outcome != workflows.OutcomeAccepted || st.Audit[0].Reason != "diff reviewed, capacity is there" {
		t.Errorf("audit = %+v, want alice's accepted chat decision with its reason", st.Audit)
	}
	p.webhook.waitFor(t, "Approval scale-web", "approved by alice: diff reviewed, capacity is there")
	if out := p.mustTemporal("workflow", "list", "--query", "InfraflowApprovalState='approved'"); !strings.Contains(out, "scale-web") {
		t.Errorf("approved approvals query does not list scale-web:\n%s", out)
	}
}

func TestChatRefusalsAreAnsweredAndRecorded(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes()
	p.start()
	p.startApproval("open-port", `{"title": "open port 22", "requester": "dave", "groups": ["sre"], "quorum": 2}`)
	p.webhook.waitFor(t, "Approval requested by dave", "open-port")

	forged := slashCommand("U0ALICE", "approve open-port looks fine")
	forged.signature = "v0=" + strings.Repeat("ab", 32)
	wrongSecret := slashCommand("U0ALICE", "approve open-port looks fine")
	wrongSecret.secret = "not-the-secret"
	stale := slashCommand("U0ALICE", "approve open-port looks fine")
	stale.timestamp = time.Now().Add(-6 * time.Minute)
	replayed := slashCommand("U0ALICE", "pending")

	cases := []struct {
		name   string
		req    chatRequest
		status int
		want   string
	}{
		{"forged signature", forged, 401, "Refused: forged request: the signature does not match the body"},
		{"wrong secret", wrongSecret, 401, "Refused: forged request"},
		{"stale timestamp", stale, 401, "Refused: stale request: its timestamp is more than 5 minutes from now"},
		{"first use", replayed, 200, "Pending approvals:\n• open-port: open port 22 (by dave, 0/2"},
		{"replay", replayed, 401, "Refused: replayed request: this signed request was already received"},
		{"unknown chat user", slashCommand("U0NOBODY", "approve open-port fine"), 200, "Refused: chat user U0NOBODY is not in infraflow's directory"},
		{"outside the approvers", slashCommand("U0ERIN", "approve open-port fine"), 200, "Refused: decision refused: erin is not among the approvers (alice, bob, carol)"},
		{"requester approves own", slashCommand("U0DAVE", "approve open-port trust me"), 200, "Refused: decision refused: dave requested this change and may not approve it"},
		{"no reason", slashCommand("U0ALICE", "approve open-port"), 200, "Refused: decision refused: a reason is required"},
		{"first vote", slashCommand("U0ALICE", "approve open-port bastion only"), 200, "now pending, 1 of 2 approvals"},
		{"second vote by the same approver", slashCommand("U0ALICE", "approve open-port again"), 200, "Refused: decision refused: alice has already voted (approve) and may vote only once"},
		{"button click", buttonClick("U0BOB", "approve", "open-port", "checked the security group"), 200, "now approved, 2 of 2 approvals"},
		// Depending on whether the workflow is still finishing, "the request is closed (approved)" or
		// "approval open-port is closed or does not exist"; either way this:
		{"after close", slashCommand("U0CAROL", "reject open-port too late"), 200, "no more decisions are taken"},
	}
	for _, c := range cases {
		reply := p.chatSend(t, c.req)
		if reply.status != c.status || !strings.Contains(reply.Text, c.want) {
			t.Errorf("%s: answered %d %q, want %d %q", c.name, reply.status, reply.Text, c.status, c.want)
		}
	}

	// Recorded by chat ops: every request, with its outcome and reason.
	log := readChatAudit(t, filepath.Join(p.dataDir, "chatops-audit.jsonl"))
	if len(log) != len(cases) {
		t.Errorf("chat ops audit has %d lines, want %d: %+v", len(log), len(cases), log)
	}
	for i, c := range cases {
		if i >= len(log) {
			break
		}
		wantOutcome := "refused"
		if strings.HasPrefix(c.want, "Pending") || strings.HasPrefix(c.want, "now") {
			wantOutcome = "accepted"
		}
		if log[i].Outcome != wantOutcome || !strings.Contains("Refused: "+log[i].Reason, strings.TrimPrefix(c.want, "Refused: ")) && wantOutcome == "refused" {
			t.Errorf("%s: audit line %+v, want %s with %q", c.name, log[i], wantOutcome, c.want)
		}
	}

	// Recorded by the workflow: the refusals that reached it, and both approvals.
	st := p.approvalResult("open-port")
	var trail []string
	for _, a := range st.Audit {
		trail = append(trail, fmt.Sprintf("%s %s %s %s", a.Approver, a.Outcome, a.Channel, a.Refusal))
	}
	wantTrail := []string{
		"erin refused signal erin is not among the approvers (alice, bob, carol)",
		"dave refused signal dave requested this change and may not approve it",
		"alice refused signal a reason is required: say why you approve",
		"alice accepted update ",
		"alice refused signal alice has already voted (approve) and may vote only once",
		"bob accepted update ",
	}
	if strings.Join(trail, "\n") != strings.Join(wantTrail, "\n") {
		t.Errorf("workflow audit trail:\n%s\nwant:\n%s", strings.Join(trail, "\n"), strings.Join(wantTrail, "\n"))
	}

	// The audit export carries the same trail, in both formats.
	stdout, stderr, err := p.starter("audit", "--since", "1h", "--format", "json")
	if err != nil {
		t.Fatalf("starter audit: %v\n%s", err, stderr)
	}
	var records []approvals.AuditRecord
	if err := json.Unmarshal([]byte(stdout), &records); err != nil || len(records) != len(wantTrail) {
		t.Fatalf("starter audit json: %v, %d records, want %d:\n%s", err, len(records), len(wantTrail), stdout)
	}
	if r := records[4]; r.WorkflowID != "open-port" || r.Approver != "alice" || r.Outcome != "refused" || r.ApprovalStatus != "approved" || r.At.IsZero() {
		t.Errorf("audit record = %+v, want alice's refused second vote on open-port", r)
	}
	stdout, _, err = p.starter("audit", "--since", "1h", "--format", "csv")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) != len(wantTrail)+1 ||
		!strings.HasPrefix(lines[0], "workflowId,title,requester,approvalStatus,at,approver,decision,reason,via,channel,outcome,refusal") {
		t.Errorf("starter audit csv (%v):\n%s", err, stdout)
	}
}

func readChatAudit(t *testing.T, path string) []struct{ Outcome, Reason string } {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []struct{ Outcome, Reason string }
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Outcome, Reason string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("chat ops audit line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func testDecideFromStarterAndTemporalCLI(t *testing.T, p *platform) {
	p.startApproval("by-cli", `{"title": "rotate keys", "requester": "dave", "approvers": ["alice", "bob", "carol"], "quorum": 3}`)
	p.startApproval("rejected", `{"title": "drop table", "requester": "dave", "approvers": ["alice"]}`)
	// Nobody answers this one: it expires on the server's real timer.
	p.startApproval("unanswered", `{"title": "resize disk", "requester": "dave", "approvers": ["alice"], "expiry": "5s"}`)
	p.webhook.waitFor(t, "by-cli")
	p.webhook.waitFor(t, "rejected")

	stdout, stderr, err := p.starter("pending")
	if err != nil || !strings.Contains(stdout, "by-cli") || !strings.Contains(stdout, "0/3") || !strings.Contains(stdout, "alice,bob,carol") {
		t.Errorf("starter pending = %q %v %s", stdout, err, stderr)
	}
	if _, stderr, err := p.starter("approve", "by-cli", "--as", "alice", "--reason", ""); err == nil || !strings.Contains(stderr, "a reason is required") {
		t.Errorf("starter approve without reason: %v %s", err, stderr)
	}
	if stdout, stderr, err := p.starter("approve", "by-cli", "--as", "alice", "--reason", "keys are old"); err != nil || !strings.Contains(stdout, "approval is pending (1 of 3 approvals)") {
		t.Errorf("starter approve: %q %v %s", stdout, err, stderr)
	}
	// A client that speaks Temporal directly: the Update, validated first...
	if out, err := p.temporal("workflow", "update", "execute", "--workflow-id", "by-cli", "--name", "decide",
		"--input", `{"approver": "bob", "decision": "approve", "reason": "agreed", "via": "temporal-cli"}`); err != nil || !strings.Contains(out, `"approved"`) && !strings.Contains(out, "pending") {
		t.Errorf("temporal workflow update: %v\n%s", err, out)
	}
	if _, err := p.temporal("workflow", "update", "execute", "--workflow-id", "by-cli", "--name", "decide",
		"--input", `{"approver": "mallory", "decision": "approve", "reason": "x"}`); err == nil || !strings.Contains(err.Error(), "mallory is not among the approvers") {
		t.Errorf("temporal workflow update by an outsider: %v, want refused by the validator", err)
	}
	// ...and the Signal, for clients that cannot send Updates.
	p.mustTemporal("workflow", "signal", "--workflow-id", "by-cli", "--name", "decision",
		"--input", `{"approver": "carol", "decision": "approve", "reason": "fine", "via": "temporal-cli"}`)
	if st := p.approvalResult("by-cli"); st.Status != workflows.ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,bob,carol" {
		t.Errorf("by-cli = %+v, want approved by all three", st)
	}

	if stdout, stderr, err := p.starter("reject", "rejected", "--as", "alice", "--reason", "not during the freeze"); err != nil || !strings.Contains(stdout, "approval is rejected") {
		t.Errorf("starter reject: %q %v %s", stdout, err, stderr)
	}
	if st := p.approvalResult("rejected"); st.Status != workflows.ApprovalRejected || st.Reason != "not during the freeze" {
		t.Errorf("rejected = %+v", st)
	}
	if st := p.approvalResult("unanswered"); st.Status != workflows.ApprovalExpired {
		t.Errorf("unanswered = %+v, want expired", st)
	}

	// A decision sent with the start itself (signal-with-start), before the
	// approvers are known, waits for them and counts.
	p.mustTemporal("workflow", "signal-with-start", "--type", "Approval", "--task-queue", p.taskQueue, "--workflow-id", "first-moment",
		"--input", `{"title": "rotate keys", "requester": "dave", "approvers": ["alice", "bob"], "quorum": 2, "expiry": "2m"}`,
		"--signal-name", workflows.DecisionSignal, "--signal-input", `{"approver": "alice", "decision": "approve", "reason": "keys are old", "via": "temporal-cli"}`)
	p.mustTemporal("workflow", "update", "execute", "--workflow-id", "first-moment", "--name", workflows.DecideUpdate,
		"--input", `{"approver": "bob", "decision": "approve", "reason": "agreed", "via": "temporal-cli"}`)
	st := p.approvalResult("first-moment")
	if st.Status != workflows.ApprovalApproved || len(st.Audit) != 2 || st.Audit[0].Approver != "alice" || st.Audit[0].Channel != "signal" || st.Audit[0].Outcome != workflows.OutcomeAccepted {
		t.Errorf("first-moment = %+v, want approved, alice's signal from the start accepted", st)
	}
}

func TestHundredPendingApprovalsSurviveWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	// The server runs alone (its own worker polls an unused queue); the worker
	// that runs the approvals is a separate process, killed for real.
	p := newPlatform(t).withoutKubernetes()
	p.taskQueue = serverOnlyQueue
	p.start()
	const queue = "approvals"
	workerArgs := []string{"--address", p.frontend, "--task-queue", queue, "--metrics-address", "", "--directory", "internal/directory/example.json", "--codec-keys", p.keyFile}
	worker := startProcess(t, workerBin, workerArgs...)

	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("pending-%03d", i)
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: queue}, "Approval",
			workflows.ApprovalInput{Title: "change " + ids[i], Requester: "dave", Groups: []string{"sre"}, ReminderInterval: "0s"})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Kill it while the approvals are still starting up.
	worker.kill()
	startProcess(t, workerBin, workerArgs...) // stopped by its t.Cleanup

	a := &approvals.Client{Temporal: c, Namespace: "default"}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		open, err := a.Pending(ctx)
		if err == nil && len(open) == n && allResolved(open) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d approvals are pending (err %v), want %d", len(open), err, n)
		}
		time.Sleep(500 * time.Millisecond)
	}

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			approver := []string{"alice", "bob", "carol"}[i%3]
			st, err := a.Decide(ctx, id, workflows.DecisionRequest{Approver: approver, Decision: workflows.DecisionApprove, Reason: "after restart", Via: "test"})
			if err != nil || st.Status != workflows.ApprovalApproved {
				errs <- fmt.Errorf("%s: %v %+v", id, err, st)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		var st workflows.ApprovalStatus
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &st); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if st.Status != workflows.ApprovalApproved || len(st.Approvals) != 1 || len(st.Audit) != 1 {
			t.Errorf("%s = %+v, want approved exactly once", id, st)
		}
	}
}

func allResolved(open []approvals.Summary) bool {
	for _, s := range open {
		if len(s.Status.Eligible) == 0 {
			return false
		}
	}
	return true
}
