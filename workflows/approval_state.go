package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/signing"
)

// Approval states, also the values of the InfraflowApprovalState search attribute.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
)

// Decisions a person can make.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Message names for deciding and reading an Approval.
const (
	// DecideUpdate is the Update that decides; refused requests are never accepted.
	DecideUpdate = "decide"
	// DecisionSignal decides for clients that cannot send Updates; refused
	// signals are recorded in the audit trail.
	DecisionSignal = "decision"
	// ApprovalStateQuery returns the ApprovalStatus.
	ApprovalStateQuery = "state"
)

// Error types of refused decisions. A refused Update is either rejected by its
// validator (DecisionRefused: never accepted, so not in history) or, when the
// state moved between validation and handling, refused by the handler
// (DecisionRefusedRecorded: in history and the audit trail).
const (
	ErrTypeDecisionRefused         = "DecisionRefused"
	ErrTypeDecisionRefusedRecorded = "DecisionRefusedRecorded"
)

// DecisionRequest is one person's decision.
type DecisionRequest struct {
	Approver string `json:"approver"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	// Via says where the decision came from: chat, cli, ui, ...
	Via string `json:"via,omitempty"`
	// SignedAt, Signature and KeyID authenticate the decision: the Ed25519
	// signature (base64) of the canonical message over this approval's
	// workflow ID, approver, decision, reason and signedAt (internal/signing
	// documents it), made with a key the directory registers for the approver
	// or for a trusted relay (the chat server). KeyID (SHA256:..., optional)
	// names the key. `starter approve --print-only` prints a signed request.
	SignedAt  string `json:"signedAt,omitempty"`
	Signature string `json:"signature,omitempty"`
	KeyID     string `json:"keyId,omitempty"`
}

// AuditEntry records one decision attempt, accepted or refused.
type AuditEntry struct {
	At       time.Time `json:"at"`
	Approver string    `json:"approver"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason"`
	Via      string    `json:"via,omitempty"`
	// Channel is how it reached the workflow: update or signal.
	Channel string `json:"channel"`
	Outcome string `json:"outcome"` // accepted or refused
	Refusal string `json:"refusal,omitempty"`
	// Signer is whose key signed the decision ("relay:<name>" for the chat
	// server vouching for the approver); SignedAt, KeyID and Signature are as
	// received, so the record can be checked again later.
	Signer    string `json:"signer,omitempty"`
	SignedAt  string `json:"signedAt,omitempty"`
	KeyID     string `json:"keyId,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// Audit outcomes.
const (
	OutcomeAccepted = "accepted"
	OutcomeRefused  = "refused"
)

// ApprovalStatus is the state query's answer and the workflow's result.
type ApprovalStatus struct {
	Status    string    `json:"status"`
	Title     string    `json:"title"`
	Requester string    `json:"requester"`
	Quorum    int       `json:"quorum"`
	Eligible  []string  `json:"eligible"`
	Approvals []string  `json:"approvals"`
	Awaiting  []string  `json:"awaiting"`
	ExpiresAt time.Time `json:"expiresAt"`
	// ClosedBy and Reason explain the outcome: the rejecting or last approving
	// person and their reason, or "expiry".
	ClosedBy  string       `json:"closedBy,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Reminders int          `json:"reminders"`
	Escalated bool         `json:"escalated"`
	Audit     []AuditEntry `json:"audit"`
	// NotifyErrors lists chat notifications that could not be delivered; the
	// approval goes on without them.
	NotifyErrors []string `json:"notifyErrors,omitempty"`
}

// approval is the workflow's state and the rules that change it.
type approval struct {
	ApprovalStatus
	// Summary, link and payload go into every notification.
	in ApprovalInput
	// workflowID is what decisions are signed for.
	workflowID string
	// auth verifies signatures; nil in runs from before signed decisions
	// (their history has no keys), which take decisions as typed.
	auth *decisionAuth
	// seen holds every signature that reached history, accepted or refused:
	// a signature is good for one decision only.
	seen map[string]bool
	// waitsForApprovers: decisions that arrive before the approvers are
	// known wait for them (runs from before decisionsWaitChange refused
	// them); ready says the approvers are known.
	waitsForApprovers, ready bool
	// inArrivalOrder: decisions are taken in the order they arrived, each
	// with its turn in line; arrived counts the turns given, taken those done.
	inArrivalOrder bool
	arrived, taken int
}

// arrive gives a decision its turn in line.
func (a *approval) arrive() int {
	a.arrived++
	return a.arrived - 1
}

// awaitTurn holds a decision until the approvers are known and, in runs that
// keep arrival order, every decision that arrived before it was taken.
// Nothing closes the approval before the approvers are known: a refused input
// ends the workflow, and the held decisions with it.
func (a *approval) awaitTurn(ctx workflow.Context, turn int) error {
	if !a.waitsForApprovers {
		return nil
	}
	return workflow.Await(ctx, func() bool { return a.due(turn) })
}

// due says whether a decision's turn has come.
func (a *approval) due(turn int) bool {
	return a.ready && (!a.inArrivalOrder || a.taken == turn)
}

// take records a decision whose turn has come, and passes the turn on.
func (a *approval) take(now time.Time, req DecisionRequest, channel string) string {
	a.taken++
	return a.record(now, req, channel)
}

// allTaken says no decision is still waiting for its turn.
func (a *approval) allTaken() bool {
	return !a.inArrivalOrder || a.taken == a.arrived
}

// refusal says why a decision cannot be taken now, or "" when it can.
// Refusals are monotonic: once refused, the same request stays refused, which
// is what lets a refused Update be re-sent as a Signal only to be recorded.
func (a *approval) refusal(now time.Time, req DecisionRequest) string {
	refusal, _ := a.check(now, req)
	return refusal
}

// check is refusal, also saying who signed the decision.
func (a *approval) check(now time.Time, req DecisionRequest) (refusal, signer string) {
	if r := a.basicRefusal(req); r != "" {
		return r, ""
	}
	if a.auth != nil {
		v := a.auth.keyring.AuthenticateDecision(signing.Decision{WorkflowID: a.workflowID, Approver: req.Approver, Decision: req.Decision,
			Reason: req.Reason, SignedAt: req.SignedAt}, req.Signature, req.KeyID, now, a.Requester, a.auth.policy)
		signer = v.Signer
		if v.Relay {
			signer = "relay:" + v.Signer
		}
		if v.Refusal != "" {
			return v.Refusal, signer
		}
		if req.Signature != "" && a.seen[req.Signature] {
			return "replayed signature: this signed decision was already received; sign a new one", signer
		}
	}
	return a.ruleRefusal(req), signer
}

// basicRefusal checks the request's shape and the approval's state.
func (a *approval) basicRefusal(req DecisionRequest) string {
	switch {
	case a.Status != ApprovalPending:
		return fmt.Sprintf("the request is closed (%s); no more decisions are taken", a.Status)
	case req.Approver == "":
		return "approver is required: say who is deciding"
	case req.Decision != DecisionApprove && req.Decision != DecisionReject:
		return fmt.Sprintf("decision %q is not approve or reject", req.Decision)
	case strings.TrimSpace(req.Reason) == "":
		return "a reason is required: say why you " + req.Decision
	}
	return ""
}

// ruleRefusal applies the approval rules to an authenticated approver.
func (a *approval) ruleRefusal(req DecisionRequest) string {
	switch {
	case req.Approver == a.Requester && req.Decision == DecisionApprove:
		return fmt.Sprintf("%s requested this change and may not approve it", req.Approver)
	case !slices.Contains(a.Eligible, req.Approver):
		return fmt.Sprintf("%s is not among the approvers (%s)", req.Approver, strings.Join(a.Eligible, ", "))
	}
	for _, e := range a.Audit {
		if e.Approver == req.Approver && e.Outcome == OutcomeAccepted {
			return fmt.Sprintf("%s has already voted (%s) and may vote only once", req.Approver, e.Decision)
		}
	}
	return ""
}

// record applies a decision the rules allow, or records the refusal; it
// returns the refusal ("" when accepted).
func (a *approval) record(now time.Time, req DecisionRequest, channel string) string {
	entry := AuditEntry{At: now, Approver: req.Approver, Decision: req.Decision, Reason: req.Reason, Via: req.Via, Channel: channel,
		SignedAt: req.SignedAt, KeyID: req.KeyID, Signature: req.Signature}
	refusal, signer := a.check(now, req)
	entry.Signer = signer
	if req.Signature != "" && a.auth != nil {
		if a.seen == nil {
			a.seen = map[string]bool{}
		}
		a.seen[req.Signature] = true
	}
	if refusal != "" {
		entry.Outcome, entry.Refusal = OutcomeRefused, refusal
		a.Audit = append(a.Audit, entry)
		return refusal
	}
	entry.Outcome = OutcomeAccepted
	a.Audit = append(a.Audit, entry)
	a.Awaiting = slices.DeleteFunc(a.Awaiting, func(p string) bool { return p == req.Approver })
	switch req.Decision {
	case DecisionReject:
		a.close(ApprovalRejected, req.Approver, req.Reason)
	case DecisionApprove:
		a.Approvals = append(a.Approvals, req.Approver)
		if len(a.Approvals) >= a.Quorum {
			a.close(ApprovalApproved, req.Approver, req.Reason)
		}
	}
	return ""
}

func (a *approval) close(status, by, reason string) {
	a.Status, a.ClosedBy, a.Reason = status, by, reason
}

// snapshot copies the status so a query or result never shares slices with
// the state that handlers keep changing.
func (a *approval) snapshot() ApprovalStatus {
	s := a.ApprovalStatus
	s.Eligible = slices.Clone(a.Eligible)
	s.Approvals = slices.Clone(a.Approvals)
	s.Awaiting = slices.Clone(a.Awaiting)
	s.Audit = slices.Clone(a.Audit)
	s.NotifyErrors = slices.Clone(a.NotifyErrors)
	return s
}
