// Package approvers describes who may decide an approval, as the worker's
// directory resolves them, and what people are told in chat about it. It does
// no I/O: the activities resolve the directory and post the notices.
package approvers

import "time"

// ErrTypeUnknownGroup marks a group the directory does not know.
const ErrTypeUnknownGroup = "UnknownGroup"

// ResolveApproversInput names who may decide: people, and groups to expand.
type ResolveApproversInput struct {
	People []string `json:"people,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// ResolveDecidersInput names who may decide and who asked.
type ResolveDecidersInput struct {
	People    []string `json:"people,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Requester string   `json:"requester,omitempty"`
}

// Deciders is what an approval needs to authenticate decisions and its
// requester deterministically: it is recorded in history once, so every
// replay verifies with the same keys.
type Deciders struct {
	// Eligible is who may decide, groups expanded.
	Eligible []string `json:"eligible"`
	// Keys are the registered public keys of the eligible people and the
	// requester, by name.
	Keys map[string][]string `json:"keys,omitempty"`
	// Relays are the trusted relays' keys (the chat server), by relay name.
	Relays map[string][]string `json:"relays,omitempty"`
	// AllowUnsigned is the directory's setting: unsigned decisions and
	// requests are believed as typed.
	AllowUnsigned bool `json:"allowUnsigned"`
	// SignatureWindow bounds |workflow time - signedAt| (a Go duration).
	SignatureWindow string `json:"signatureWindow"`
}

// Kinds of approval notices.
const (
	NoticeRequest    = "request"
	NoticeReminder   = "reminder"
	NoticeEscalation = "escalation"
	NoticeOutcome    = "outcome"
)

// ApprovalNotice is what an approval tells people in chat.
type ApprovalNotice struct {
	Kind       string    `json:"kind"`
	WorkflowID string    `json:"workflowId"`
	Title      string    `json:"title"`
	Summary    string    `json:"summary,omitempty"`
	Link       string    `json:"link,omitempty"`
	Payload    string    `json:"payload,omitempty"`
	Requester  string    `json:"requester"`
	Recipients []string  `json:"recipients"`
	Quorum     int       `json:"quorum"`
	Approvals  []string  `json:"approvals"`
	ExpiresAt  time.Time `json:"expiresAt"`
	Status     string    `json:"status"`
	ClosedBy   string    `json:"closedBy,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}
