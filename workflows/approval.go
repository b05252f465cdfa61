package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/approvers"
	"github.com/infraflow/infraflow/internal/searchattr"
)

// Approval waits, durably, for people to decide on a request: approved at the
// quorum, rejected by any one rejection, expired when nobody decides in time.
// Other workflows run it as a child; it can also be started alone.
func Approval(ctx workflow.Context, in ApprovalInput) (ApprovalStatus, error) {
	expiry, _ := parseDuration(in.Expiry, defaultExpiry)
	reminderEvery, _ := parseDuration(in.ReminderInterval, defaultReminderInterval)
	started := workflow.Now(ctx)
	a := &approval{in: in, ApprovalStatus: ApprovalStatus{
		Status:    ApprovalPending,
		Title:     in.Title,
		Requester: in.Requester,
		Quorum:    in.quorum(),
		ExpiresAt: started.Add(expiry),
		Audit:     []AuditEntry{},
		Approvals: []string{},
	}}
	// Handlers come first so no early decision finds the workflow deaf. A
	// decision sent right after the start (a person quick in chat, a retry)
	// waits until the approvers are known, and the held decisions are then
	// taken in the order they arrived: with a quorum of one, an early approve
	// and an early reject must not race. Runs recorded before this change
	// refused early decisions, or took held signals first, and replay so.
	switch workflow.GetVersion(ctx, decisionsWaitChange, workflow.DefaultVersion, 2) {
	case 2:
		a.waitsForApprovers, a.inArrivalOrder = true, true
	case 1:
		a.waitsForApprovers = true
	}
	err := registerDecisionHandlers(ctx, a)
	if err != nil {
		return a.snapshot(), err
	}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) {
		return Progress{Phase: "approval " + a.Status, Done: len(a.Approvals), Total: a.Quorum}, nil
	}); err != nil {
		return a.snapshot(), err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.ApprovalState.ValueSet(ApprovalPending), searchattr.Requester.ValueSet(in.Requester)); err != nil {
		return a.snapshot(), err
	}

	a.workflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
	var eligible []string
	if workflow.GetVersion(ctx, signedDecisionsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if eligible, err = resolveApprovers(ctx, in); err != nil {
			return a.snapshot(), err
		}
	} else {
		deciders, err := resolveDeciders(ctx, in)
		if err != nil {
			return a.snapshot(), err
		}
		auth := newDecisionAuth(ctx, deciders)
		if problem := requesterProblem(ctx, in, auth); problem != nil {
			return a.snapshot(), invalidInput(problem)
		}
		eligible, a.auth = deciders.Eligible, auth
	}
	a.Eligible = eligible
	a.Awaiting = slices.DeleteFunc(slices.Clone(eligible), func(p string) bool { return p == in.Requester })
	if len(a.Awaiting) < a.Quorum {
		return a.snapshot(), invalidInput(&FieldError{Field: "quorum",
			Problem: fmt.Sprintf("is %d but only %d people besides the requester may approve (%v)", a.Quorum, len(a.Awaiting), a.Awaiting),
			Fix:     "lower the quorum or add approvers or groups"})
	}
	a.ready = true

	notify(ctx, a, approvers.NoticeRequest, a.Awaiting)
	escalateAt := started.Add(time.Duration(float64(expiry) * in.escalateAfter()))
	nextReminder := started.Add(reminderEvery)
	for a.Status == ApprovalPending {
		next := a.ExpiresAt
		if reminderEvery > 0 && nextReminder.Before(next) {
			next = nextReminder
		}
		if len(in.Escalation) > 0 && !a.Escalated && escalateAt.Before(next) {
			next = escalateAt
		}
		decided, err := workflow.AwaitWithTimeout(ctx, next.Sub(workflow.Now(ctx)), func() bool { return a.Status != ApprovalPending })
		if err != nil {
			return a.snapshot(), err
		}
		if decided {
			break
		}
		now := workflow.Now(ctx)
		switch {
		case !now.Before(a.ExpiresAt):
			a.close(ApprovalExpired, "expiry", fmt.Sprintf("no decision within %s", expiry))
		case len(in.Escalation) > 0 && !a.Escalated && !now.Before(escalateAt):
			a.Escalated = true
			notify(ctx, a, approvers.NoticeEscalation, in.Escalation)
		case reminderEvery > 0 && !now.Before(nextReminder):
			a.Reminders++
			nextReminder = nextReminder.Add(reminderEvery)
			notify(ctx, a, approvers.NoticeReminder, a.Awaiting)
		}
	}

	if err := workflow.UpsertTypedSearchAttributes(ctx, searchattr.ApprovalState.ValueSet(a.Status)); err != nil {
		return a.snapshot(), err
	}
	notify(ctx, a, approvers.NoticeOutcome, append(slices.Clone(a.Eligible), in.Requester))
	// Let in-flight Updates finish and record decisions that raced the close.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && a.allTaken() }); err != nil {
		return a.snapshot(), err
	}
	drainSignals(ctx, a)
	workflow.GetLogger(ctx).Info("Approval closed", "status", a.Status, "by", a.ClosedBy)
	return a.snapshot(), nil
}

func registerDecisionHandlers(ctx workflow.Context, a *approval) error {
	if err := workflow.SetQueryHandler(ctx, ApprovalStateQuery, func() (ApprovalStatus, error) { return a.snapshot(), nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DecideUpdate,
		func(ctx workflow.Context, req DecisionRequest) (ApprovalStatus, error) {
			if err := a.awaitTurn(ctx, a.arrive()); err != nil {
				return a.snapshot(), err
			}
			// The state may have moved since validation (another decision in the
			// same task); the rules are applied again, and a refusal recorded.
			if refusal := a.take(workflow.Now(ctx), req, "update"); refusal != "" {
				return a.snapshot(), temporal.NewApplicationError("decision refused: "+refusal, ErrTypeDecisionRefusedRecorded)
			}
			return a.snapshot(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req DecisionRequest) error {
			var refusal string
			if a.waitsForApprovers && !a.ready {
				// Until the approvers are known only the request's shape is
				// checked; the handler applies the rules once they are.
				refusal = a.basicRefusal(req)
			} else {
				refusal = a.refusal(workflow.Now(ctx), req)
			}
			if refusal != "" {
				return temporal.NewApplicationError("decision refused: "+refusal, ErrTypeDecisionRefused)
			}
			return nil
		}},
	); err != nil {
		return err
	}
	signals := workflow.GetSignalChannel(ctx, DecisionSignal)
	takeSignal := func(ctx workflow.Context, req DecisionRequest) {
		if refusal := a.take(workflow.Now(ctx), req, "signal"); refusal != "" {
			workflow.GetLogger(ctx).Warn("Refused decision signal", "approver", req.Approver, "refusal", refusal)
		}
	}
	if !a.inArrivalOrder {
		workflow.Go(ctx, func(ctx workflow.Context) {
			if a.awaitTurn(ctx, 0) != nil {
				return
			}
			for {
				var req DecisionRequest
				signals.Receive(ctx, &req)
				takeSignal(ctx, req)
			}
		})
		return nil
	}
	// Each signal takes its place in line when it is received, so a signal
	// that arrived before an Update is taken before it. One whose turn has
	// come (no decision is held) is taken at once, as the reader receives it.
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var req DecisionRequest
			signals.Receive(ctx, &req)
			turn := a.arrive()
			if a.due(turn) {
				takeSignal(ctx, req)
				continue
			}
			workflow.Go(ctx, func(ctx workflow.Context) {
				if a.awaitTurn(ctx, turn) == nil {
					takeSignal(ctx, req)
				}
			})
		}
	})
	return nil
}

// drainSignals records signals that arrived in the last workflow task, after
// the close; each is refused, and recorded rather than silently dropped.
func drainSignals(ctx workflow.Context, a *approval) {
	signals := workflow.GetSignalChannel(ctx, DecisionSignal)
	for {
		var req DecisionRequest
		if !signals.ReceiveAsync(&req) {
			return
		}
		a.record(workflow.Now(ctx), req, "signal")
	}
}

func resolveApprovers(ctx workflow.Context, in ApprovalInput) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	eligible, err := activityref.ResolveApprovers.Run(ctx, approvers.ResolveApproversInput{People: in.Approvers, Groups: in.Groups})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == approvers.ErrTypeUnknownGroup {
		return nil, invalidInput(&FieldError{Field: "groups", Problem: appErr.Message(), Fix: "name a group from the worker's directory"})
	}
	return eligible, err
}

// notify tells people in chat; a chat outage must not decide an approval, so a
// failed notification is recorded and the workflow goes on.
func notify(ctx workflow.Context, a *approval, kind string, recipients []string) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, InitialInterval: time.Second},
	})
	notice := approvers.ApprovalNotice{
		Kind:       kind,
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Title:      a.in.Title,
		Summary:    a.in.Summary,
		Link:       a.in.Link,
		Payload:    a.in.Payload,
		Requester:  a.Requester,
		Recipients: slices.Clone(recipients),
		Quorum:     a.Quorum,
		Approvals:  slices.Clone(a.Approvals),
		ExpiresAt:  a.ExpiresAt,
		Status:     a.Status,
		ClosedBy:   a.ClosedBy,
		Reason:     a.Reason,
	}
	if err := activityref.NotifyApproval.Run(ctx, notice); err != nil {
		workflow.GetLogger(ctx).Warn("Chat notification failed", "kind", kind, "error", err)
		a.NotifyErrors = append(a.NotifyErrors, fmt.Sprintf("%s: %v", kind, err))
	}
}
