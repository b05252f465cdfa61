package workflows

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/directory"
)

// webhook is a real HTTP receiver standing in for Slack's incoming webhook.
type webhook struct {
	mu       sync.Mutex
	messages []string
	server   *httptest.Server
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Errorf("webhook got non-JSON %q", body)
		}
		w.mu.Lock()
		w.messages = append(w.messages, msg.Text)
		w.mu.Unlock()
	}))
	t.Cleanup(w.server.Close)
	return w
}

func (w *webhook) texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.messages...)
}

func (w *webhook) count(prefix string) int {
	n := 0
	for _, m := range w.texts() {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func newApprovalEnv(t *testing.T, hook *webhook) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := testEnv(&suite)
	env.SetTestTimeout(time.Minute)
	Register(env)
	activities.Register(env, &activities.Activities{Directory: directory.Example(), ChatWebhookURL: hook.server.URL})
	return env
}

type updateOutcome struct {
	rejected, failed error
	status           ApprovalStatus
	done             bool
}

// decide sends the decide Update after delay and records what happened to it.
func decide(env *testsuite.TestWorkflowEnvironment, delay time.Duration, req DecisionRequest) *updateOutcome {
	out := &updateOutcome{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(DecideUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.rejected, out.done = err, true },
			OnComplete: func(result any, err error) {
				out.failed, out.done = err, true
				if st, ok := result.(ApprovalStatus); ok {
					out.status = st
				}
			},
		}, req)
	}, delay)
	return out
}

func approvalResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) ApprovalStatus {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("approval did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("approval failed: %v", err)
	}
	var st ApprovalStatus
	if err := env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestQuorumTwoOfThreeNeedsTwoDistinctApprovers(t *testing.T) {
	hook := newWebhook(t)
	env := newApprovalEnv(t, hook)
	first := decide(env, time.Minute, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "diff reviewed"})
	again := decide(env, 2*time.Minute, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "really sure"})
	second := decide(env, 3*time.Minute, DecisionRequest{Approver: "carol", Decision: DecisionApprove, Reason: "capacity is there"})
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "scale web to 40", Requester: "dave", Approvers: []string{"alice", "bob", "carol"}, Quorum: 2})

	st := approvalResult(t, env)
	if first.failed != nil || first.rejected != nil || first.status.Status != ApprovalPending || len(first.status.Approvals) != 1 {
		t.Errorf("first approval: %+v, want accepted and still pending at 1 of 2", first)
	}
	if again.rejected == nil || !strings.Contains(again.rejected.Error(), "alice has already voted (approve) and may vote only once") {
		t.Errorf("second vote by alice: rejected=%v, want refused by the validator", again.rejected)
	}
	if second.failed != nil || second.status.Status != ApprovalApproved {
		t.Errorf("carol's approval: %+v, want approved", second)
	}
	if st.Status != ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,carol" || st.ClosedBy != "carol" {
		t.Errorf("result = %+v, want approved by alice and carol", st)
	}
	if hook.count("Approval requested by dave") != 1 || len(hook.texts()) != 2 {
		t.Errorf("webhook messages = %q, want the request and the outcome", hook.texts())
	}
	if !strings.Contains(strings.Join(hook.texts(), "\n"), "approved by carol: capacity is there") {
		t.Errorf("webhook messages = %q, want the outcome with who and why", hook.texts())
	}
}

func TestOneRejectionClosesAsRejected(t *testing.T) {
	env := newApprovalEnv(t, newWebhook(t))
	decide(env, time.Minute, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "fine by me"})
	decide(env, 2*time.Minute, DecisionRequest{Approver: "bob", Decision: DecisionReject, Reason: "freeze week"})
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "delete db", Requester: "dave", Groups: []string{"sre"}, Quorum: 2})
	st := approvalResult(t, env)
	if st.Status != ApprovalRejected || st.ClosedBy != "bob" || st.Reason != "freeze week" {
		t.Errorf("result = %+v, want rejected by bob for the freeze", st)
	}
	if strings.Join(st.Eligible, ",") != "alice,bob,carol" {
		t.Errorf("eligible = %v, want the sre group from the directory", st.Eligible)
	}
}

func TestRefusalsReturnReasonsAndSignalsAreRecorded(t *testing.T) {
	env := newApprovalEnv(t, newWebhook(t))
	cases := []struct {
		req  DecisionRequest
		want string
	}{
		{DecisionRequest{Approver: "erin", Decision: DecisionApprove, Reason: "lgtm"}, "erin is not among the approvers (alice, bob, dave)"},
		{DecisionRequest{Approver: "dave", Decision: DecisionApprove, Reason: "my own change"}, "dave requested this change and may not approve it"},
		{DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "  "}, "a reason is required"},
		{DecisionRequest{Approver: "alice", Decision: "maybe", Reason: "hmm"}, `decision "maybe" is not approve or reject`},
	}
	outs := make([]*updateOutcome, len(cases))
	for i, c := range cases {
		outs[i] = decide(env, time.Duration(i+1)*time.Minute, c.req)
	}
	// A client that cannot send Updates: the same rules, and the refusal is recorded.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(DecisionSignal, DecisionRequest{Approver: "erin", Decision: DecisionApprove, Reason: "via signal", Via: "ui"})
	}, 10*time.Minute)
	decide(env, 20*time.Minute, DecisionRequest{Approver: "bob", Decision: DecisionApprove, Reason: "checked", Via: "cli"})
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "open port", Requester: "dave", Approvers: []string{"alice", "bob", "dave"}})

	st := approvalResult(t, env)
	for i, c := range cases {
		if outs[i].rejected == nil || !strings.Contains(outs[i].rejected.Error(), c.want) {
			t.Errorf("%+v: rejected = %v, want %q", c.req, outs[i].rejected, c.want)
		}
		var appErr *temporal.ApplicationError
		if errors.As(outs[i].rejected, &appErr) && appErr.Type() != ErrTypeDecisionRefused {
			t.Errorf("%+v: error type %q, want %s", c.req, appErr.Type(), ErrTypeDecisionRefused)
		}
	}
	if st.Status != ApprovalApproved || st.ClosedBy != "bob" {
		t.Fatalf("result = %+v, want approved by bob", st)
	}
	// Refused Updates leave no trace; the refused signal and the accepted Update do.
	if len(st.Audit) != 2 {
		t.Fatalf("audit = %+v, want the refused signal and bob's approval", st.Audit)
	}
	if a := st.Audit[0]; a.Approver != "erin" || a.Channel != "signal" || a.Outcome != OutcomeRefused || !strings.Contains(a.Refusal, "not among the approvers") {
		t.Errorf("audit[0] = %+v, want erin's refused signal with the reason", a)
	}
	if a := st.Audit[1]; a.Approver != "bob" || a.Channel != "update" || a.Outcome != OutcomeAccepted || a.Via != "cli" || a.Reason != "checked" {
		t.Errorf("audit[1] = %+v, want bob's accepted update", a)
	}
}

func TestExpiryRemindsEscalatesAndExpires(t *testing.T) {
	hook := newWebhook(t)
	env := newApprovalEnv(t, hook)
	start := env.Now()
	env.ExecuteWorkflow("Approval", ApprovalInput{
		Title: "rotate keys", Requester: "dave", Groups: []string{"sre"},
		Expiry: "48h", ReminderInterval: "8h", Escalation: []string{"erin"}, EscalateAfter: 0.75,
	})
	st := approvalResult(t, env)
	if st.Status != ApprovalExpired || st.ClosedBy != "expiry" {
		t.Errorf("result = %+v, want expired", st)
	}
	if elapsed := env.Now().Sub(start); elapsed < 48*time.Hour || elapsed > 49*time.Hour {
		t.Errorf("expired after %v (skipped time), want 48h", elapsed)
	}
	// Reminders at 8h..40h (5), escalation once at 36h.
	if st.Reminders != 5 || hook.count("Reminder for alice, bob, carol") != 5 {
		t.Errorf("reminders = %d, webhook = %q; want 5", st.Reminders, hook.texts())
	}
	if !st.Escalated || hook.count("Escalation to erin") != 1 {
		t.Errorf("escalated = %v, webhook = %q; want one escalation to erin", st.Escalated, hook.texts())
	}
	if hook.count("Approval ") != 2 || !strings.Contains(strings.Join(hook.texts(), "\n"), "expired by expiry") {
		t.Errorf("webhook = %q, want the request and the expired outcome", hook.texts())
	}
}

func TestApprovalInputProblemsFailFast(t *testing.T) {
	cases := map[string]string{
		`{"requester": "dave", "approvers": ["alice"]}`:                                    `field "title": is required`,
		`{"title": "x", "approvers": ["alice"]}`:                                           `field "requester": is required`,
		`{"title": "x", "requester": "dave"}`:                                              `field "approvers": no one may decide`,
		`{"title": "x", "requester": "dave", "approvers": ["dave"]}`:                       `field "approvers": lists only the requester`,
		`{"title": "x", "requester": "dave", "approvers": ["alice"], "quorum": 2}`:         `field "quorum": is 2 but only 1 approvers besides the requester`,
		`{"title": "x", "requester": "dave", "approvers": ["alice"], "expiry": "soon"}`:    `field "expiry": "soon" is not a positive duration`,
		`{"title": "x", "requester": "dave", "groups": ["nobody"]}`:                        `field "groups": group "nobody" is not in the directory (known groups: platform, security, sre)`,
		`{"title": "x", "requester": "bob", "groups": ["platform"], "quorum": 2}`:          `field "quorum": is 2 but only 1 people besides the requester may approve`,
		`{"title": "x", "requester": "dave", "approvers": ["alice"], "quorum": "two"}`:     `field "quorum": got a JSON string, want whole number`,
		`{"title": "x", "requester": "dave", "approvers": ["alice"], "approver": ["bob"]}`: `field "approver": is not a known field`,
	}
	for input, want := range cases {
		env := newApprovalEnv(t, newWebhook(t))
		env.ExecuteWorkflow("Approval", json.RawMessage(input))
		var appErr *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidInput || !appErr.NonRetryable() {
			t.Errorf("%s: error = %v, want non-retryable %s", input, err, ErrTypeInvalidInput)
			continue
		}
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("%s: error %q does not contain %q", input, appErr.Error(), want)
		}
	}
}

// Decisions sent right after the start, while the approvers are still being
// looked up, wait for them instead of being refused as unauthorised: an
// Update from alice and a Signal from bob both count, and erin, who is no
// approver, is still refused once the list is known.
func TestDecisionsBeforeTheApproversAreKnownWaitForThem(t *testing.T) {
	env := newApprovalEnv(t, newWebhook(t))
	dir := &activities.Activities{Directory: directory.Example()}
	env.OnActivity(activityref.ResolveDeciders.Name(), mock.Anything, mock.Anything).After(30 * time.Second).Return(dir.ResolveDeciders)
	alice := decide(env, time.Second, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "keys are old"})
	erin := decide(env, 2*time.Second, DecisionRequest{Approver: "erin", Decision: DecisionApprove, Reason: "lgtm"})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(DecisionSignal, DecisionRequest{Approver: "bob", Decision: DecisionApprove, Reason: "rotated in staging", Via: "ui"})
	}, 3*time.Second)
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "rotate keys", Requester: "dave", Approvers: []string{"alice", "bob"}, Quorum: 2})

	st := approvalResult(t, env)
	if alice.rejected != nil || alice.failed != nil || !alice.done {
		t.Errorf("alice's early Update: %+v, want accepted once the approvers were known", alice)
	}
	if erin.failed == nil || !strings.Contains(erin.failed.Error(), "erin is not among the approvers (alice, bob)") {
		t.Errorf("erin's early Update: %+v, want refused by the rules once the approvers were known", erin)
	}
	// The held decisions are taken once the approvers are known, in the
	// order they arrived.
	if got := auditOrder(st); st.Status != ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,bob" ||
		got != "alice:update:accepted,erin:update:refused,bob:signal:accepted" {
		t.Errorf("result = %+v (audit %s), want approved by alice then bob, erin's refusal between them", st, got)
	}
}

// With a quorum of one, an early approve and an early reject race: the one
// that arrived first decides, whichever channel each came by.
func TestHeldDecisionsAreTakenInTheOrderTheyArrived(t *testing.T) {
	for _, tc := range []struct {
		name       string
		updateAt   time.Duration // alice approves by Update
		signalAt   time.Duration // bob rejects by signal
		wantStatus string
		wantAudit  string
	}{
		{"update first", time.Second, 2 * time.Second, ApprovalApproved, "alice:update:accepted,bob:signal:refused"},
		{"signal first", 2 * time.Second, time.Second, ApprovalRejected, "bob:signal:accepted,alice:update:refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newApprovalEnv(t, newWebhook(t))
			dir := &activities.Activities{Directory: directory.Example()}
			env.OnActivity(activityref.ResolveDeciders.Name(), mock.Anything, mock.Anything).After(30 * time.Second).Return(dir.ResolveDeciders)
			decide(env, tc.updateAt, DecisionRequest{Approver: "alice", Decision: DecisionApprove, Reason: "diff reviewed"})
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(DecisionSignal, DecisionRequest{Approver: "bob", Decision: DecisionReject, Reason: "freeze week", Via: "chat"})
			}, tc.signalAt)
			env.ExecuteWorkflow("Approval", ApprovalInput{Title: "rotate keys", Requester: "dave", Approvers: []string{"alice", "bob"}})

			st := approvalResult(t, env)
			if got := auditOrder(st); st.Status != tc.wantStatus || got != tc.wantAudit {
				t.Errorf("status %s, audit %s; want %s, audit %s", st.Status, got, tc.wantStatus, tc.wantAudit)
			}
		})
	}
}

// auditOrder lists the audit as approver:channel:outcome, in order.
func auditOrder(st ApprovalStatus) string {
	var entries []string
	for _, e := range st.Audit {
		entries = append(entries, e.Approver+":"+e.Channel+":"+e.Outcome)
	}
	return strings.Join(entries, ",")
}

// A signal that arrives with the decision that closes the approval is
// refused, and the refusal is in the audit the workflow returns.
func TestASignalRacingTheCloseIsRecorded(t *testing.T) {
	env := newApprovalEnv(t, newWebhook(t))
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(DecideUpdate, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {}},
			DecisionRequest{Approver: "bob", Decision: DecisionApprove, Reason: "checked"})
		env.SignalWorkflow(DecisionSignal, DecisionRequest{Approver: "alice", Decision: DecisionReject, Reason: "too late", Via: "chat"})
	}, time.Minute)
	env.ExecuteWorkflow("Approval", ApprovalInput{Title: "open port", Requester: "dave", Approvers: []string{"alice", "bob"}})

	st := approvalResult(t, env)
	if got := auditOrder(st); st.Status != ApprovalApproved || got != "bob:update:accepted,alice:signal:refused" {
		t.Errorf("status %s, audit %s; want approved by bob, alice's late signal refused in the audit", st.Status, got)
	}
}
