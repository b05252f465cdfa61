// Package approvals is the client side of the Approval workflow: deciding,
// listing what is pending, and exporting the audit trail. The chat ops server
// and the starter CLI both use it.
package approvals

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/chatops"
	"github.com/infraflow/infraflow/internal/searchattr"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/workflows"
)

// Client decides and reads approvals through Temporal.
type Client struct {
	Temporal  client.Client
	Namespace string
}

// refusedPrefix starts the workflow's refusal messages, which RefusedError adds back.
const refusedPrefix = "decision refused: "

// RefusedError is a decision the approval refused, with its reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return refusedPrefix + e.Reason }

// Decide sends the decision as an Update and waits for the outcome. A refused
// Update never enters history, so the same decision is then sent as a Signal:
// the workflow refuses it again by the same (monotonic) rules and records the
// attempt in its audit trail.
func (c *Client) Decide(ctx context.Context, workflowID string, req workflows.DecisionRequest) (workflows.ApprovalStatus, error) {
	var status workflows.ApprovalStatus
	handle, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   workflows.DecideUpdate,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &status)
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return status, nil
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeDecisionRefused:
		refusal := &RefusedError{Reason: strings.TrimPrefix(appErr.Message(), refusedPrefix)}
		if err := c.recordRefusal(ctx, workflowID, req); err != nil {
			return status, fmt.Errorf("%w (and recording the refusal failed: %v)", refusal, err)
		}
		return status, refusal
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeDecisionRefusedRecorded:
		return status, &RefusedError{Reason: strings.TrimPrefix(appErr.Message(), refusedPrefix)}
	case isNotFound(err):
		return status, &RefusedError{Reason: fmt.Sprintf("approval %s is closed or does not exist; no more decisions are taken", workflowID)}
	default:
		return status, fmt.Errorf("deciding approval %s: %w", workflowID, err)
	}
}

// recordRefusal re-sends a refused decision as a Signal and waits until the
// workflow's audit trail holds it, so a caller told "refused" can rely on the
// record existing, in order with the decisions that follow. A workflow that
// has completed meanwhile has nothing left to record into.
func (c *Client) recordRefusal(ctx context.Context, workflowID string, req workflows.DecisionRequest) error {
	before, err := c.refusalsOf(ctx, workflowID, req)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.Temporal.SignalWorkflow(ctx, workflowID, "", workflows.DecisionSignal, req); err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := c.refusalsOf(ctx, workflowID, req)
		if err != nil || n > before {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("approval %s did not record the refusal within 10s", workflowID)
}

// refusalsOf counts the refused attempts matching req in the audit trail.
func (c *Client) refusalsOf(ctx context.Context, workflowID string, req workflows.DecisionRequest) (int, error) {
	st, err := c.state(ctx, workflowID, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range st.Audit {
		if a.Outcome == workflows.OutcomeRefused && a.Approver == req.Approver && a.Decision == req.Decision && a.Reason == req.Reason {
			n++
		}
	}
	return n, nil
}

func isNotFound(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}

// SignDecision signs req for the approval workflowID with key at the time
// given (the canonical message is internal/signing's).
func SignDecision(key ed25519.PrivateKey, workflowID string, req workflows.DecisionRequest, at time.Time) workflows.DecisionRequest {
	req.SignedAt = signing.FormatTime(at)
	req.KeyID = signing.KeyID(key.Public().(ed25519.PublicKey))
	req.Signature = signing.Sign(key, signing.Decision{WorkflowID: workflowID, Approver: req.Approver, Decision: req.Decision,
		Reason: req.Reason, SignedAt: req.SignedAt}.Message())
	return req
}

// SignRequest is the requester's signature for starting workflowID.
func SignRequest(key ed25519.PrivateKey, workflowID, requester string, at time.Time) *workflows.RequesterSignature {
	s := &workflows.RequesterSignature{SignedAt: signing.FormatTime(at), KeyID: signing.KeyID(key.Public().(ed25519.PublicKey))}
	s.Signature = signing.Sign(key, signing.Request{WorkflowID: workflowID, Requester: requester, SignedAt: s.SignedAt}.Message())
	return s
}

// Summary is one approval as lists show it.
type Summary struct {
	WorkflowID string                   `json:"workflowId"`
	Status     workflows.ApprovalStatus `json:"status"`
}

// Pending lists open approvals with their current state.
func (c *Client) Pending(ctx context.Context) ([]Summary, error) {
	query := fmt.Sprintf("%s = 'Approval' AND %s = '%s' AND ExecutionStatus = 'Running'",
		searchattr.Kind.GetName(), searchattr.ApprovalState.GetName(), workflows.ApprovalPending)
	var out []Summary
	err := c.list(ctx, query, func(e executionRef) error {
		st, err := c.state(ctx, e.id, e.runID)
		if err != nil {
			return err
		}
		if st.Status == workflows.ApprovalPending {
			out = append(out, Summary{WorkflowID: e.id, Status: st})
		}
		return nil
	})
	return out, err
}

func (c *Client) state(ctx context.Context, id, runID string) (workflows.ApprovalStatus, error) {
	var st workflows.ApprovalStatus
	v, err := c.Temporal.QueryWorkflow(ctx, id, runID, workflows.ApprovalStateQuery)
	if err != nil {
		return st, fmt.Errorf("reading approval %s: %w", id, err)
	}
	return st, v.Get(&st)
}

type executionRef struct {
	id, runID    string
	status       enums.WorkflowExecutionStatus
	start, close time.Time
}

func (c *Client) list(ctx context.Context, query string, each func(executionRef) error) error {
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, Query: query, NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return fmt.Errorf("listing approvals (%s): %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			ref := executionRef{
				id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId(),
				status: e.GetStatus(), start: e.GetStartTime().AsTime(),
			}
			if e.GetCloseTime() != nil {
				ref.close = e.GetCloseTime().AsTime()
			}
			if err := each(ref); err != nil {
				return err
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// ChatDecider adapts the client to the chat ops server.
type ChatDecider struct {
	*Client
	// RelayKey signs each decision chat ops verified (nil: unsigned).
	RelayKey ed25519.PrivateKey
}

// Decide implements chatops.Decider.
func (d ChatDecider) Decide(ctx context.Context, workflowID string, dec chatops.Decision) (string, error) {
	req := workflows.DecisionRequest{Approver: dec.Approver, Decision: dec.Decision, Reason: dec.Reason, Via: "chat"}
	if d.RelayKey != nil {
		req = SignDecision(d.RelayKey, workflowID, req, time.Now())
	}
	st, err := d.Client.Decide(ctx, workflowID, req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("infraflow recorded your %s on %s (%s): now %s, %d of %d approvals", dec.Decision, workflowID, st.Title,
		st.Status, len(st.Approvals), st.Quorum), nil
}

// Pending implements chatops.Decider.
func (d ChatDecider) Pending(ctx context.Context) ([]chatops.Pending, error) {
	open, err := d.Client.Pending(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]chatops.Pending, 0, len(open))
	for _, p := range open {
		out = append(out, chatops.Pending{
			WorkflowID: p.WorkflowID, Title: p.Status.Title, Requester: p.Status.Requester,
			Approvals: len(p.Status.Approvals), Quorum: p.Status.Quorum, Awaiting: p.Status.Awaiting, ExpiresAt: p.Status.ExpiresAt,
		})
	}
	return out, nil
}
