package workflows

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/signing"
)

const signedApprovalID = "signed-approval"

// people are the test directory's keys: everyone signs with their own.
var people = map[string]ed25519.PrivateKey{}

func keyOf(name string) ed25519.PrivateKey {
	if k, ok := people[name]; ok {
		return k
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	people[name] = ed25519.NewKeyFromSeed(seed)
	return people[name]
}

func pubLine(name string) string {
	return signing.AuthorizedKey(keyOf(name).Public().(ed25519.PublicKey), name)
}

// signedDirectory is example.json's people with keys, a chat relay, and
// unsigned decisions refused.
func signedDirectory() *directory.Directory {
	d := &directory.Directory{Relays: []directory.Relay{{Name: "chatops", Keys: []string{pubLine("relay")}}}}
	for _, p := range directory.Example().People {
		p.Keys = []string{pubLine(p.Name)}
		d.People = append(d.People, p)
	}
	return d
}

func newSignedEnv(t *testing.T, dir *directory.Directory) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	env.SetTestTimeout(time.Minute)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: signedApprovalID})
	Register(env)
	activities.Register(env, &activities.Activities{Directory: dir})
	return env
}

// signed is req signed with signer's key at `at`, for the approval's ID.
func signed(req DecisionRequest, signer string, at time.Time) DecisionRequest {
	req.SignedAt = signing.FormatTime(at)
	req.Signature = signing.Sign(keyOf(signer), signing.Decision{WorkflowID: signedApprovalID, Approver: req.Approver,
		Decision: req.Decision, Reason: req.Reason, SignedAt: req.SignedAt}.Message())
	return req
}

func requesterSig(requester, signer, workflowID string, at time.Time) *RequesterSignature {
	s := &RequesterSignature{SignedAt: signing.FormatTime(at)}
	s.Signature = signing.Sign(keyOf(signer), signing.Request{WorkflowID: workflowID, Requester: requester, SignedAt: s.SignedAt}.Message())
	return s
}

// hostile are the decisions that must not count, each with why.
func hostile(env *testsuite.TestWorkflowEnvironment, replayOf *DecisionRequest) []struct {
	name string
	req  func() DecisionRequest
	want string
} {
	now := func() time.Time { return env.Now() }
	return []struct {
		name string
		req  func() DecisionRequest
		want string
	}{
		{"unsigned", func() DecisionRequest {
			return DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "unsigned"}
		}, "unsigned decision: this directory takes only decisions signed with a key it registers for alice"},
		{"another person's key", func() DecisionRequest {
			return signed(DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "bob signs for alice"}, "bob", now())
		}, "signed with bob's key, not alice's"},
		{"unregistered key", func() DecisionRequest {
			return signed(DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "mallory"}, "mallory", now())
		}, "does not verify with any key the directory registers for alice"},
		{"stale", func() DecisionRequest {
			return signed(DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "old"}, "alice", now().Add(-11*time.Minute))
		}, "stale signature: signed at"},
		{"requester signs as someone else", func() DecisionRequest {
			return signed(DecisionRequest{Approver: "carol", Decision: DecisionApprove, Reason: "it is fine"}, "dave", now())
		}, "self-approval in another's name: dave requested this change and signed this decision as carol"},
		{"replayed", func() DecisionRequest { return *replayOf }, "replayed signature: this signed decision was already received"},
	}
}

func TestSignedDecisionsRefusedByUpdateAndRecordedBySignal(t *testing.T) {
	env := newSignedEnv(t, signedDirectory())
	var first DecisionRequest
	env.RegisterDelayedCallback(func() {
		first = signed(DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "diff reviewed", Via: "cli"}, "alice", env.Now())
		env.UpdateWorkflow(DecideUpdate, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) {
			t.Errorf("alice's signed approval refused: %v", err)
		}, OnComplete: func(any, error) {}}, first)
	}, time.Minute)

	cases := hostile(env, &first)
	rejected := make([]error, len(cases))
	for i, c := range cases {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(DecideUpdate, "", &testsuite.TestUpdateCallback{
				OnAccept:   func() {},
				OnReject:   func(err error) { rejected[i] = err },
				OnComplete: func(any, error) { t.Errorf("%s: update accepted", c.name) },
			}, c.req())
		}, time.Duration(2+i)*time.Minute)
		// The same, by Signal: refused and recorded.
		env.RegisterDelayedCallback(func() {
			req := c.req()
			req.Via = "signal-test"
			env.SignalWorkflow(DecisionSignal, req)
		}, time.Duration(2+i)*time.Minute+time.Second)
	}
	// The chat relay vouches for carol: the second approval closes it.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(DecisionSignal, signed(DecisionRequest{Approver: "carol", Decision: DecisionApprove, Reason: "via chat", Via: "chat"}, "relay", env.Now()))
	}, 20*time.Minute)
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "open port", Requester: "dave", Groups: []string{"sre"}, Quorum: 2,
		RequesterSignature: requesterSig("dave", "dave", signedApprovalID, env.Now())})

	st := approvalResult(t, env)
	if st.Status != ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,carol" {
		t.Fatalf("result = %+v, want approved by alice and carol", st)
	}
	for i, c := range cases {
		var appErr *temporal.ApplicationError
		if !errors.As(rejected[i], &appErr) || appErr.Type() != ErrTypeDecisionRefused || !strings.Contains(appErr.Error(), c.want) {
			t.Errorf("%s by Update: %v, want refused by the validator with %q", c.name, rejected[i], c.want)
		}
	}
	// Audit: alice's approval, each hostile signal refused with its reason, carol via the relay.
	if len(st.Audit) != len(cases)+2 {
		t.Fatalf("audit has %d entries, want %d: %+v", len(st.Audit), len(cases)+2, st.Audit)
	}
	if a := st.Audit[0]; a.Approver != "alice" || a.Outcome != OutcomeAccepted || a.Signer != "alice" || a.Signature != first.Signature || a.SignedAt != first.SignedAt {
		t.Errorf("audit[0] = %+v, want alice's accepted signed decision", a)
	}
	for i, c := range cases {
		a := st.Audit[i+1]
		if a.Outcome != OutcomeRefused || a.Channel != "signal" || !strings.Contains(a.Refusal, c.want) {
			t.Errorf("%s by Signal: audit %+v, want refused with %q", c.name, a, c.want)
		}
	}
	if a := st.Audit[len(st.Audit)-1]; a.Approver != "carol" || a.Outcome != OutcomeAccepted || a.Signer != "relay:chatops" {
		t.Errorf("last audit = %+v, want carol's decision vouched for by the chat relay", a)
	}
}

func TestUnsignedAllowedOnlyWhenTheDirectorySaysSo(t *testing.T) {
	dir := signedDirectory()
	dir.AllowUnsigned = true
	env := newSignedEnv(t, dir)
	decide(env, time.Minute, DecisionRequest{Approver: "bob", Decision: DecisionApprove, Reason: "trusting"})
	// Signed ones are still checked.
	forged := decide(env, 30*time.Second, signed(DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "x"}, "bob", time.Now()))
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "t", Requester: "dave", Approvers: []string{"alice", "bob"}})
	st := approvalResult(t, env)
	if st.Status != ApprovalApproved || st.ClosedBy != "bob" || st.Audit[0].Signer != "" {
		t.Errorf("result = %+v, want bob's unsigned approval accepted", st)
	}
	if forged.rejected == nil || !strings.Contains(forged.rejected.Error(), "signed with bob's key, not alice's") {
		t.Errorf("forged signed decision: %v", forged.rejected)
	}
}

func TestRequesterMustBeAuthenticated(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		sig  *RequesterSignature
		want string
	}{
		{"unsigned", nil, `field "requester": "dave" is not signed`},
		{"signed by someone else", requesterSig("dave", "alice", signedApprovalID, now), `field "requester": "dave" is not authenticated: requesterSignature is alice's, not dave's`},
		{"for another workflow", requesterSig("dave", "dave", "some-other-workflow", now), `does not verify with any key the directory registers for dave`},
		{"stale", requesterSig("dave", "dave", signedApprovalID, now.Add(-time.Hour)), "stale signature"},
		{"system outside a child", &RequesterSignature{System: "DriftCheck"}, `field "requesterSignature": sets workflowId, startedAt or system`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newSignedEnv(t, signedDirectory())
			env.ExecuteWorkflow("Approval", ApprovalInput{Title: "t", Requester: "dave", Groups: []string{"sre"}, RequesterSignature: c.sig})
			var appErr *temporal.ApplicationError
			err := env.GetWorkflowError()
			if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), c.want) {
				t.Errorf("error = %v, want non-retryable InvalidInput with %q", err, c.want)
			}
		})
	}
	t.Run("signed", func(t *testing.T) {
		env := newSignedEnv(t, signedDirectory())
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(DecisionSignal, signed(DecisionRequest{Approver: "alice", Decision: DecisionReject, Reason: "no"}, "alice", env.Now()))
		}, time.Minute)
		env.ExecuteWorkflow("Approval", ApprovalInput{Title: "t", Requester: "dave", Groups: []string{"sre"},
			RequesterSignature: requesterSig("dave", "dave", signedApprovalID, env.Now())})
		if st := approvalResult(t, env); st.Status != ApprovalRejected {
			t.Errorf("result = %+v", st)
		}
	})
}

func TestOldApprovalRunsTakeDecisionsAsTyped(t *testing.T) {
	// A run from before signed decisions (GetVersion default) has no keys in
	// its history and keeps the old rules.
	env := newSignedEnv(t, signedDirectory())
	env.OnGetVersion(signedDecisionsChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	decide(env, time.Minute, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "old run"})
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "t", Requester: "dave", Groups: []string{"sre"}})
	if st := approvalResult(t, env); st.Status != ApprovalApproved {
		t.Errorf("old run = %+v, want approved unsigned", st)
	}
}
