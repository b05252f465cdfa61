package workflows

import (
	"fmt"
	"slices"
	"time"
)

// ApprovalInput asks people to decide on something risky.
type ApprovalInput struct {
	// Title and Summary say what is being approved; Link and Payload (a diff, a
	// plan) let approvers look closer.
	Title   string `json:"title"`
	Summary string `json:"summary,omitempty"`
	Link    string `json:"link,omitempty"`
	Payload string `json:"payload,omitempty"`
	// Requester asked for the change and may not approve it.
	Requester string `json:"requester"`
	// RequesterSignature authenticates the requester (required unless the
	// worker's directory sets allowUnsigned).
	RequesterSignature *RequesterSignature `json:"requesterSignature,omitempty"`
	// Approvers (people) and Groups (from the worker's directory) may decide.
	Approvers []string `json:"approvers,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	// Quorum is how many approvals close the request as approved (default 1).
	Quorum int `json:"quorum,omitempty"`
	// Expiry (default 24h) closes an undecided request as expired.
	Expiry string `json:"expiry,omitempty"`
	// ReminderInterval (default 4h) repeats the request to those still awaited;
	// "0s" sends none.
	ReminderInterval string `json:"reminderInterval,omitempty"`
	// Escalation is notified once EscalateAfter (a share of Expiry, default 0.5)
	// has passed without a decision.
	Escalation    []string `json:"escalation,omitempty"`
	EscalateAfter float64  `json:"escalateAfter,omitempty"`
}

const (
	defaultExpiry           = 24 * time.Hour
	defaultReminderInterval = 4 * time.Hour
	defaultEscalateAfter    = 0.5
)

// Validate implements Input.
func (in ApprovalInput) Validate() error {
	switch {
	case in.Title == "":
		return &FieldError{Field: "title", Problem: "is required", Fix: `say what is being approved, e.g. "title": "scale web to 40 replicas"`}
	case in.Requester == "":
		return &FieldError{Field: "requester", Problem: "is required", Fix: "name who asked for the change"}
	case len(in.Approvers) == 0 && len(in.Groups) == 0:
		return &FieldError{Field: "approvers", Problem: "no one may decide", Fix: `name approvers ("approvers": ["alice"]) or groups ("groups": ["sre"])`}
	case in.Quorum < 0:
		return &FieldError{Field: "quorum", Problem: fmt.Sprintf("is %d", in.Quorum), Fix: "use a positive number of approvals (default 1)"}
	case in.EscalateAfter < 0 || in.EscalateAfter >= 1:
		return &FieldError{Field: "escalateAfter", Problem: fmt.Sprintf("is %v", in.EscalateAfter), Fix: "use a share of the expiry between 0 and 1, e.g. 0.5"}
	case len(in.Escalation) == 0 && in.EscalateAfter != 0:
		return &FieldError{Field: "escalation", Problem: "is empty but escalateAfter is set", Fix: "name who to escalate to"}
	}
	for i, a := range in.Approvers {
		if a == "" {
			return &FieldError{Field: fmt.Sprintf("approvers[%d]", i), Problem: "is empty", Fix: "name a person"}
		}
	}
	if len(in.Groups) == 0 && len(in.Approvers) > 0 && !slices.ContainsFunc(in.Approvers, func(a string) bool { return a != in.Requester }) {
		return &FieldError{Field: "approvers", Problem: "lists only the requester", Fix: "the requester may not approve their own request; name someone else"}
	}
	if len(in.Groups) == 0 && in.quorum() > countOthers(in.Approvers, in.Requester) {
		return &FieldError{Field: "quorum", Problem: fmt.Sprintf("is %d but only %d approvers besides the requester are named", in.quorum(), countOthers(in.Approvers, in.Requester)),
			Fix: "lower the quorum or name more approvers"}
	}
	expiry, err := parseDuration(in.Expiry, defaultExpiry)
	if err != nil || expiry <= 0 {
		return &FieldError{Field: "expiry", Problem: fmt.Sprintf("%q is not a positive duration", in.Expiry), Fix: `use Go duration syntax, e.g. "24h" or "90m"`}
	}
	if reminder, err := parseDuration(in.ReminderInterval, defaultReminderInterval); err != nil || reminder < 0 {
		return &FieldError{Field: "reminderInterval", Problem: fmt.Sprintf("%q is not a duration", in.ReminderInterval), Fix: `use Go duration syntax, e.g. "4h"; "0s" sends no reminders`}
	}
	return nil
}

// withDefaults records the quorum and escalation defaults with the run.
func (in ApprovalInput) withDefaults() ApprovalInput {
	in.Quorum, in.EscalateAfter = in.quorum(), in.escalateAfter()
	return in
}

func (in ApprovalInput) quorum() int {
	if in.Quorum == 0 {
		return 1
	}
	return in.Quorum
}

func (in ApprovalInput) escalateAfter() float64 {
	if in.EscalateAfter == 0 {
		return defaultEscalateAfter
	}
	return in.EscalateAfter
}

func parseDuration(s string, fallback time.Duration) (time.Duration, error) {
	if s == "" {
		return fallback, nil
	}
	return time.ParseDuration(s)
}

func countOthers(people []string, requester string) int {
	n := 0
	for i, p := range people {
		if p != requester && !slices.Contains(people[:i], p) {
			n++
		}
	}
	return n
}
