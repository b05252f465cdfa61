package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/approvers"
	"github.com/infraflow/infraflow/internal/signing"
)

// signedDecisionsChange marks the Approval runs that fetch keys and verify
// signatures (version 1); older runs resolved approvers only and replay so.
const signedDecisionsChange = "signed-decisions"

// decisionsWaitChange marks the Approval runs in which a decision that
// arrives before the approvers are resolved waits for them (version 1), and
// those in which the held decisions are then taken in the order they arrived
// (version 2; version 1 took every held signal before any held Update). Older
// runs refused early decisions, and replay so.
const decisionsWaitChange = "decisions-wait-for-approvers"

// RequesterSignature proves that the requester asked for the change: the
// Ed25519 signature (base64) of the canonical request message over the
// workflow's ID, the requester and signedAt (internal/signing documents it),
// made with a key the directory registers for the requester. `starter` adds
// it when it starts a workflow with a requester.
type RequesterSignature struct {
	SignedAt  string `json:"signedAt,omitempty"`
	Signature string `json:"signature,omitempty"`
	KeyID     string `json:"keyId,omitempty"`
	// WorkflowID and StartedAt are set by infraflow when a workflow hands the
	// signature to a child (the approval of a provisioning): the workflow the
	// requester signed for, and when it started. System names the infraflow
	// workflow that requests on its own behalf (DriftCheck's remediation).
	// All three are honoured only in child workflows, which only infraflow's
	// own workflows can start; a person leaves them out.
	WorkflowID string     `json:"workflowId,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	System     string     `json:"system,omitempty"`
}

// forChild is the signature as a child workflow receives it: with the ID and
// start time of the workflow the requester signed for. A child passes on
// what its parent gave it.
func (s *RequesterSignature) forChild(ctx workflow.Context) *RequesterSignature {
	info := workflow.GetInfo(ctx)
	if info.ParentWorkflowExecution != nil || s == nil {
		return s
	}
	c := *s
	started := info.WorkflowStartTime
	c.WorkflowID, c.StartedAt, c.System = info.WorkflowExecution.ID, &started, ""
	return &c
}

// decisionAuth is what verifies signatures in an Approval: the keys and the
// directory's policy, as the ResolveDeciders activity recorded them.
type decisionAuth struct {
	keyring *signing.Keyring
	policy  signing.Policy
}

func newDecisionAuth(ctx workflow.Context, d approvers.Deciders) *decisionAuth {
	keyring, errs := signing.NewKeyring(d.Keys, d.Relays)
	for _, err := range errs {
		workflow.GetLogger(ctx).Warn("Directory key ignored", "error", err)
	}
	window, err := time.ParseDuration(d.SignatureWindow)
	if err != nil {
		window = signing.DefaultWindow
	}
	return &decisionAuth{keyring: keyring, policy: signing.Policy{AllowUnsigned: d.AllowUnsigned, Window: window}}
}

func resolveDeciders(ctx workflow.Context, in ApprovalInput) (approvers.Deciders, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	d, err := activityref.ResolveDeciders.Run(ctx, approvers.ResolveDecidersInput{
		People: in.Approvers, Groups: in.Groups, Requester: in.Requester,
	})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == approvers.ErrTypeUnknownGroup {
		return d, invalidInput(&FieldError{Field: "groups", Problem: appErr.Message(), Fix: "name a group from the worker's directory"})
	}
	return d, err
}

// requesterProblem authenticates the requester before anyone is asked to
// approve: without it, anyone could name someone else as the requester and
// approve their own change. It returns the input problem, or nil.
func requesterProblem(ctx workflow.Context, in ApprovalInput, auth *decisionAuth) *FieldError {
	info := workflow.GetInfo(ctx)
	sig := in.RequesterSignature
	subject, startedAt := info.WorkflowExecution.ID, info.WorkflowStartTime
	if info.ParentWorkflowExecution != nil && sig != nil {
		if sig.System != "" {
			return nil // an infraflow workflow asks on its own behalf
		}
		if sig.WorkflowID != "" {
			subject = sig.WorkflowID
		}
		if sig.StartedAt != nil {
			startedAt = *sig.StartedAt
		}
	} else if sig != nil && (sig.System != "" || sig.StartedAt != nil || sig.WorkflowID != "" && sig.WorkflowID != subject) {
		return &FieldError{Field: "requesterSignature", Problem: "sets workflowId, startedAt or system, which infraflow sets only for child workflows",
			Fix: "leave them out: the signature covers this workflow's own ID (" + subject + ")"}
	}
	var signature, keyID, signedAt string
	if sig != nil {
		signature, keyID, signedAt = sig.Signature, sig.KeyID, sig.SignedAt
	}
	v := auth.keyring.AuthenticateRequest(signing.Request{WorkflowID: subject, Requester: in.Requester, SignedAt: signedAt},
		signature, keyID, startedAt, auth.policy)
	if v.Refusal == "" {
		return nil
	}
	problem := v.Refusal
	if !strings.HasPrefix(problem, "is ") {
		problem = fmt.Sprintf("%q is not authenticated: %s", in.Requester, problem)
	} else {
		problem = fmt.Sprintf("%q %s", in.Requester, problem)
	}
	return &FieldError{Field: "requester", Problem: problem, Fix: "sign the request as the requester (README: signing a request)"}
}
