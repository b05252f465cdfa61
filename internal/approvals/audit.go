package approvals

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/infraflow/infraflow/internal/searchattr"
	"github.com/infraflow/infraflow/workflows"
)

// AuditRecord is one decision attempt on one approval: who, when, what, why,
// and whether it was accepted.
type AuditRecord struct {
	WorkflowID     string    `json:"workflowId"`
	Title          string    `json:"title"`
	Requester      string    `json:"requester"`
	ApprovalStatus string    `json:"approvalStatus"`
	At             time.Time `json:"at"`
	Approver       string    `json:"approver"`
	Decision       string    `json:"decision"`
	Reason         string    `json:"reason"`
	Via            string    `json:"via"`
	Channel        string    `json:"channel"`
	Outcome        string    `json:"outcome"`
	Refusal        string    `json:"refusal"`
	// Signer is whose key signed the decision (relay:<name> for chat), with
	// the signature's signedAt and key ID; empty for unsigned decisions.
	Signer   string `json:"signer"`
	SignedAt string `json:"signedAt,omitempty"`
	KeyID    string `json:"keyId,omitempty"`
}

// Audit collects every decision attempt on approvals started since the given
// time: visibility finds the approvals; a closed approval's trail comes from
// its result in history, an open one's from its state query.
func (c *Client) Audit(ctx context.Context, since time.Time) ([]AuditRecord, error) {
	query := fmt.Sprintf("%s = 'Approval' AND StartTime >= '%s'", searchattr.Kind.GetName(), since.UTC().Format(time.RFC3339))
	var records []AuditRecord
	err := c.list(ctx, query, func(e executionRef) error {
		var st workflows.ApprovalStatus
		var err error
		switch e.status {
		case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			st, err = c.state(ctx, e.id, e.runID)
		case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			err = c.Temporal.GetWorkflow(ctx, e.id, e.runID).Get(ctx, &st)
		default:
			// Failed (e.g. invalid input), terminated, timed out: no decisions to
			// report, but the request itself belongs in the trail.
			records = append(records, AuditRecord{WorkflowID: e.id, At: e.start,
				ApprovalStatus: strings.ToLower(strings.TrimPrefix(e.status.String(), "WORKFLOW_EXECUTION_STATUS_")),
				Outcome:        "none"})
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the audit trail of %s: %w", e.id, err)
		}
		for _, a := range st.Audit {
			records = append(records, AuditRecord{
				WorkflowID: e.id, Title: st.Title, Requester: st.Requester, ApprovalStatus: st.Status,
				At: a.At, Approver: a.Approver, Decision: a.Decision, Reason: a.Reason, Via: a.Via,
				Channel: a.Channel, Outcome: a.Outcome, Refusal: a.Refusal,
				Signer: a.Signer, SignedAt: a.SignedAt, KeyID: a.KeyID,
			})
		}
		return nil
	})
	return records, err
}

// WriteAudit writes records as json (an array) or csv (with a header row).
func WriteAudit(w io.Writer, format string, records []AuditRecord) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if records == nil {
			records = []AuditRecord{}
		}
		return enc.Encode(records)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"workflowId", "title", "requester", "approvalStatus", "at", "approver", "decision", "reason", "via", "channel", "outcome", "refusal", "signer", "signedAt", "keyId"})
		for _, r := range records {
			_ = cw.Write([]string{r.WorkflowID, r.Title, r.Requester, r.ApprovalStatus, r.At.UTC().Format(time.RFC3339Nano),
				r.Approver, r.Decision, r.Reason, r.Via, r.Channel, r.Outcome, r.Refusal, r.Signer, r.SignedAt, r.KeyID})
		}
		cw.Flush()
		return cw.Error()
	default:
		return fmt.Errorf("--format %q: use json or csv", format)
	}
}
