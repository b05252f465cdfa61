package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"

	"github.com/infraflow/infraflow/internal/approvers"
	"github.com/infraflow/infraflow/internal/chatops"
)

// NotifyApproval posts the notice to the chat webhook as a Slack block
// message; requests and reminders carry Approve/Reject buttons.
func (a *Activities) NotifyApproval(ctx context.Context, n approvers.ApprovalNotice) error {
	logger := activity.GetLogger(ctx)
	if a.ChatWebhookURL == "" {
		logger.Info("No chat webhook configured; notice not posted", "kind", n.Kind, "workflowId", n.WorkflowID)
		return nil
	}
	msg := &slack.WebhookMessage{Text: noticeText(n), Blocks: &slack.Blocks{BlockSet: noticeBlocks(n)}}
	if err := slack.PostWebhookContext(ctx, a.ChatWebhookURL, msg); err != nil {
		return fmt.Errorf("posting %s notice for %s to the chat webhook: %w", n.Kind, n.WorkflowID, err)
	}
	logger.Info("Posted approval notice", "kind", n.Kind, "workflowId", n.WorkflowID)
	return nil
}

// noticeText is the plain-text fallback (notifications, screen readers).
func noticeText(n approvers.ApprovalNotice) string {
	switch n.Kind {
	case approvers.NoticeOutcome:
		return fmt.Sprintf("Approval %s: %s — %s by %s: %s", n.WorkflowID, n.Title, n.Status, n.ClosedBy, n.Reason)
	case approvers.NoticeEscalation:
		return fmt.Sprintf("Escalation to %s: approval %s (%s) is still undecided; it expires %s", strings.Join(n.Recipients, ", "),
			n.WorkflowID, n.Title, n.ExpiresAt.UTC().Format(time.RFC3339))
	case approvers.NoticeReminder:
		return fmt.Sprintf("Reminder for %s: approval %s (%s) awaits your decision", strings.Join(n.Recipients, ", "), n.WorkflowID, n.Title)
	default:
		return fmt.Sprintf("Approval requested by %s: %s (%s); approvers: %s", n.Requester, n.Title, n.WorkflowID, strings.Join(n.Recipients, ", "))
	}
}

const maxPayloadChars = 2500 // a Slack section's text limit is 3000

func noticeBlocks(n approvers.ApprovalNotice) []slack.Block {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	plain := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}

	blocks := []slack.Block{slack.NewSectionBlock(md("*"+noticeText(n)+"*"), nil, nil)}
	var facts []string
	if n.Summary != "" {
		facts = append(facts, n.Summary)
	}
	if n.Link != "" {
		facts = append(facts, "<"+n.Link+"|details>")
	}
	facts = append(facts, fmt.Sprintf("Approvals: %d of %d (%s) · expires %s", len(n.Approvals), n.Quorum,
		strings.Join(n.Approvals, ", "), n.ExpiresAt.UTC().Format(time.RFC3339)))
	blocks = append(blocks, slack.NewSectionBlock(md(strings.Join(facts, "\n")), nil, nil))
	if n.Payload != "" {
		payload := n.Payload
		if len(payload) > maxPayloadChars {
			payload = payload[:maxPayloadChars] + "\n… (truncated)"
		}
		blocks = append(blocks, slack.NewSectionBlock(md("```"+payload+"```"), nil, nil))
	}
	if n.Kind == approvers.NoticeRequest || n.Kind == approvers.NoticeReminder || n.Kind == approvers.NoticeEscalation {
		// The reason box's value arrives with the button click (block_actions
		// state), so a click carries a reason like any other decision.
		reason := slack.NewPlainTextInputBlockElement(plain("why you approve or reject"), chatops.ReasonActionID)
		blocks = append(blocks,
			slack.NewInputBlock(chatops.ReasonBlockID, plain("Reason"), nil, reason),
			slack.NewActionBlock(chatops.DecisionBlockID,
				slack.NewButtonBlockElement(chatops.ApproveActionID, n.WorkflowID, plain("Approve")).WithStyle(slack.StylePrimary),
				slack.NewButtonBlockElement(chatops.RejectActionID, n.WorkflowID, plain("Reject")).WithStyle(slack.StyleDanger),
			))
	}
	return blocks
}
