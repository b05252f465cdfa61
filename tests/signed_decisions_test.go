package tests

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
	"github.com/infraflow/infraflow/workflows"
)

// signedPlatform is a platform whose directory registers everyone's keys and
// the chat server's relay key, and refuses unsigned decisions and requests.
type signedPlatform struct {
	*platform
	keys map[string]string // person -> private key file
}

func newSignedPlatform(t *testing.T) *signedPlatform {
	t.Helper()
	p := newPlatform(t).withoutKubernetes()
	keyDir := t.TempDir()
	sp := &signedPlatform{platform: p, keys: map[string]string{}}
	dir := directory.Directory{}
	for _, person := range directory.Example().People {
		path := filepath.Join(keyDir, person.Name)
		key, err := keyfile.Generate(path, person.Name)
		if err != nil {
			t.Fatal(err)
		}
		sp.keys[person.Name] = path
		person.Keys = []string{signing.AuthorizedKey(keyfile.Public(key), person.Name)}
		dir.People = append(dir.People, person)
	}
	// The chat server's key, enrolled as a relay before the platform starts.
	relayPath := filepath.Join(keyDir, "chat-relay-key")
	relay, err := keyfile.Generate(relayPath, "relay")
	if err != nil {
		t.Fatal(err)
	}
	dir.Relays = []directory.Relay{{Name: "chatops", Keys: []string{signing.AuthorizedKey(keyfile.Public(relay), "relay")}}}
	raw, _ := json.MarshalIndent(dir, "", "  ")
	dirFile := filepath.Join(keyDir, "people.json")
	if err := os.WriteFile(dirFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p.extraArgs = []string{"--directory", dirFile, "--chat-relay-key", relayPath}
	p.start()
	if !strings.Contains(p.log.String(), "a relay the directory trusts") || !strings.Contains(p.log.String(), "must be signed with keys the directory registers") {
		t.Fatalf("banner does not report the trusted relay and signed-only decisions:\n%s", p.log.String())
	}
	return sp
}

func (sp *signedPlatform) key(t *testing.T, person string) ed25519.PrivateKey {
	t.Helper()
	k, err := keyfile.Load(sp.keys[person])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// decisionJSON is a decision as a person builds it for the temporal CLI.
func (sp *signedPlatform) decisionJSON(t *testing.T, workflowID, signer string, req workflows.DecisionRequest, at time.Time) string {
	t.Helper()
	if signer != "" {
		req = approvals.SignDecision(sp.key(t, signer), workflowID, req, at)
	}
	raw, _ := json.Marshal(req)
	return string(raw)
}

func auditTrail(st workflows.ApprovalStatus) []string {
	var trail []string
	for _, a := range st.Audit {
		line := fmt.Sprintf("%s %s %s %s", a.Approver, a.Outcome, a.Channel, a.Signer)
		if a.Refusal != "" {
			line += ": " + a.Refusal
		}
		trail = append(trail, line)
	}
	return trail
}

func checkTrail(t *testing.T, st workflows.ApprovalStatus, want []string) {
	t.Helper()
	got := auditTrail(st)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("audit trail:\n  %s\nwant (prefixes):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestSignedDecisionsFromStarterAndTemporalCLI(t *testing.T) {
	t.Parallel()
	sp := newSignedPlatform(t)
	const id = "signed-cli"
	// starter signs the requester with dave's key for the ID it starts.
	if _, stderr, err := sp.starter("approval", "--id", id, "--key", sp.keys["dave"], "--input",
		`{"title": "rotate keys", "requester": "dave", "approvers": ["alice", "bob", "carol"], "quorum": 3}`); err != nil || !strings.Contains(stderr, "requester signed") {
		t.Fatalf("starter approval: %v\n%s", err, stderr)
	}
	sp.webhook.waitFor(t, "Approval requested by dave", id)

	// An unsigned requester (raw temporal CLI) is bad input naming requester.
	sp.startApproval("unsigned-requester", `{"title": "x", "requester": "dave", "approvers": ["alice"]}`)
	if out, err := sp.temporal("workflow", "result", "--workflow-id", "unsigned-requester"); err == nil ||
		!strings.Contains(out+err.Error(), `field "requester"`) || !strings.Contains(out+err.Error(), "is not signed") {
		t.Errorf("unsigned requester: %v\n%s", err, out)
	}
	// A requester signed with someone else's key, likewise.
	forged := approvals.SignRequest(sp.key(t, "alice"), "forged-requester", "dave", time.Now())
	forgedJSON, _ := json.Marshal(map[string]any{"title": "x", "requester": "dave", "approvers": []string{"alice", "bob"}, "requesterSignature": forged})
	sp.startApproval("forged-requester", string(forgedJSON))
	if out, err := sp.temporal("workflow", "result", "--workflow-id", "forged-requester"); err == nil || !strings.Contains(out+err.Error(), "requesterSignature is alice's, not dave's") {
		t.Errorf("requester signed by alice: %v\n%s", err, out)
	}

	// 1. starter approve, signed with alice's key.
	if stdout, stderr, err := sp.starter("approve", id, "--as", "alice", "--reason", "keys are old", "--key", sp.keys["alice"]); err != nil ||
		!strings.Contains(stdout, "approval is pending (1 of 3 approvals)") {
		t.Fatalf("starter approve: %q %v %s", stdout, err, stderr)
	}
	// 2. starter approve as bob with alice's key: refused, and recorded (re-sent as a Signal).
	if _, stderr, err := sp.starter("approve", id, "--as", "bob", "--reason", "on bob's behalf", "--key", sp.keys["alice"]); err == nil ||
		!strings.Contains(stderr, "signed with alice's key, not bob's") {
		t.Errorf("starter approve with another's key: %v %s", err, stderr)
	}
	// 3. bob signs with --print-only and sends it with the raw temporal CLI Update.
	bobJSON, stderr, err := sp.starter("approve", id, "--as", "bob", "--reason", "agreed", "--key", sp.keys["bob"], "--print-only")
	bobJSON = strings.TrimSpace(bobJSON)
	if err != nil || !strings.Contains(bobJSON, `"signature":"`) || !strings.Contains(stderr, "temporal workflow update execute --workflow-id "+id) {
		t.Fatalf("starter approve --print-only: %q %v %s", bobJSON, err, stderr)
	}
	if out, err := sp.temporal("workflow", "update", "execute", "--workflow-id", id, "--name", "decide", "--input", bobJSON); err != nil || !strings.Contains(out, "pending") {
		t.Fatalf("temporal workflow update with bob's signed decision: %v\n%s", err, out)
	}

	// Hostile decisions by raw Update (the validator refuses: the CLI sees why)
	// and by raw Signal (refused and recorded in the audit trail).
	now := time.Now()
	carol := workflows.DecisionRequest{Approver: "carol", Decision: workflows.DecisionApprove, Reason: "fine", Via: "temporal-cli"}
	hostile := []struct {
		name, input, want string
	}{
		{"replayed", bobJSON, "replayed signature: this signed decision was already received"},
		{"unsigned", sp.decisionJSON(t, id, "", carol, now), "unsigned decision"},
		{"another person's key", sp.decisionJSON(t, id, "bob", carol, now), "signed with bob's key, not carol's"},
		{"stale", sp.decisionJSON(t, id, "carol", carol, now.Add(-11*time.Minute)), "stale signature: signed at"},
		{"requester signs as someone else", sp.decisionJSON(t, id, "dave", carol, now), "self-approval in another's name: dave requested this change and signed this decision as carol"},
		{"a key not registered for this approval (erin's, signing as carol)", sp.decisionJSON(t, id, "erin", carol, now), "does not verify with any key the directory registers for carol"},
	}
	for _, h := range hostile {
		if out, err := sp.temporal("workflow", "update", "execute", "--workflow-id", id, "--name", "decide", "--input", h.input); err == nil || !strings.Contains(err.Error(), h.want) {
			t.Errorf("%s by Update: %v\n%s, want refused with %q", h.name, err, out, h.want)
		}
		sp.mustTemporal("workflow", "signal", "--workflow-id", id, "--name", "decision", "--input", h.input)
	}
	// 4. carol's properly signed decision by raw Signal closes it.
	sp.mustTemporal("workflow", "signal", "--workflow-id", id, "--name", "decision", "--input", sp.decisionJSON(t, id, "carol", carol, time.Now()))

	st := sp.approvalResult(id)
	if st.Status != workflows.ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,bob,carol" {
		t.Errorf("%s = %+v, want approved by alice, bob and carol", id, st)
	}
	want := []string{
		"alice accepted update alice",
		"bob refused signal alice: signed with alice's key, not bob's",
		"bob accepted update bob",
	}
	want = append(want,
		"bob refused signal bob: replayed signature",
		"carol refused signal : unsigned decision",
		"carol refused signal bob: signed with bob's key, not carol's",
		"carol refused signal carol: stale signature",
		"carol refused signal dave: self-approval in another's name",
		"carol refused signal : the signature does not verify with any key the directory registers for carol",
		"carol accepted signal carol",
	)
	checkTrail(t, st, want)

	// The audit export names who signed each decision, refused ones included.
	stdout, _, err := sp.starter("audit", "--since", "1h", "--format", "json")
	if err != nil || !strings.Contains(stdout, `"refusal": "replayed signature`) || !strings.Contains(stdout, `"signer": "dave"`) {
		t.Errorf("starter audit (%v) lacks the refusals or signers:\n%s", err, stdout)
	}
}

func TestSignedDecisionsFromChat(t *testing.T) {
	t.Parallel()
	sp := newSignedPlatform(t)
	const id = "signed-chat"
	if _, stderr, err := sp.starter("approval", "--id", id, "--key", sp.keys["dave"], "--input",
		`{"title": "open port 22", "requester": "dave", "groups": ["sre"], "quorum": 2}`); err != nil {
		t.Fatalf("starter approval: %v\n%s", err, stderr)
	}
	sp.webhook.waitFor(t, "Approval requested by dave", id)

	// A rogue chat server: it verifies Slack's signature but its own key is
	// not a relay the directory trusts, so its decisions are refused and recorded.
	rogue := freeAddr(t)
	rogueData := t.TempDir()
	dirFile := sp.extraArgs[1]
	cmd := exec.Command(starterBin, "chatops", "--listen", rogue, "--directory", dirFile, "--data-dir", rogueData,
		"--address", sp.frontend, "--namespace", "default", "--codec-keys", sp.keyFile)
	cmd.Env = append(withoutTemporalEnv(), "INFRAFLOW_SLACK_SIGNING_SECRET="+signingSecret)
	rogueLog := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = rogueLog, rogueLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(rogueLog.String(), "chat ops listening"); {
		if time.Now().After(deadline) {
			t.Fatalf("rogue chat server not ready:\n%s", rogueLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(rogueLog.String(), "WARNING: the directory does not trust this chat server's key") {
		t.Errorf("standalone chat ops does not warn about its unenrolled key:\n%s", rogueLog)
	}
	rogueChat := *sp.platform
	rogueChat.chat = rogue

	pending := slashCommand("U0CAROL", "pending")
	cases := []struct {
		name   string
		via    *platform
		req    chatRequest
		status int
		want   string
	}{
		{"requester approves own", sp.platform, slashCommand("U0DAVE", "approve signed-chat trust me"), 200, "dave requested this change and may not approve it"},
		{"unenrolled chat server", &rogueChat, slashCommand("U0BOB", "approve signed-chat via the rogue server"), 200, "does not verify with any key the directory registers for bob"},
		{"alice, signed by the relay", sp.platform, slashCommand("U0ALICE", "approve signed-chat bastion only"), 200, "now pending, 1 of 2 approvals"},
		{"pending", sp.platform, pending, 200, "Pending approvals"},
	}
	for _, c := range cases {
		reply := c.via.chatSend(t, c.req)
		if reply.status != c.status || !strings.Contains(reply.Text, c.want) {
			t.Errorf("%s: answered %d %q, want %d %q", c.name, reply.status, reply.Text, c.status, c.want)
		}
	}

	// The replay guard lives in the data directory: a replay is refused even
	// after the platform restarts.
	sp.process.kill()
	sp.start()
	if reply := sp.chatSend(t, pending); reply.status != 401 || !strings.Contains(reply.Text, "replayed request") {
		t.Errorf("replay after a restart: answered %d %q, want 401 replayed", reply.status, reply.Text)
	}
	if reply := sp.chatSend(t, buttonClick("U0BOB", "approve", id, "checked the security group")); reply.status != 200 || !strings.Contains(reply.Text, "now approved, 2 of 2") {
		t.Errorf("bob's button click: answered %d %q", reply.status, reply.Text)
	}

	st := sp.approvalResult(id)
	checkTrail(t, st, []string{
		"dave refused signal relay:chatops: dave requested this change and may not approve it",
		"bob refused signal : the signature does not verify with any key the directory registers for bob",
		"alice accepted update relay:chatops",
		"bob accepted update relay:chatops",
	})
}
