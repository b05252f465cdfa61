// Package chatops receives Slack-compatible slash commands and button clicks,
// verifies that Slack signed them, maps the chat user to an approver, and
// turns the request into an approval decision.
package chatops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/infraflow/infraflow/internal/directory"
)

// Block and action IDs shared by the messages infraflow posts and the clicks
// it receives back.
const (
	ReasonBlockID   = "infraflow_reason"
	ReasonActionID  = "reason"
	DecisionBlockID = "infraflow_decision"
	ApproveActionID = "approve"
	RejectActionID  = "reject"
)

// Paths the server answers on.
const (
	CommandsPath    = "/slack/commands"
	InteractivePath = "/slack/interactive"
)

// Decision is what a chat user asked for.
type Decision struct {
	Approver string
	Decision string // approve or reject
	Reason   string
}

// Pending is one open approval as chat shows it.
type Pending struct {
	WorkflowID string
	Title      string
	Requester  string
	Approvals  int
	Quorum     int
	Awaiting   []string
	ExpiresAt  time.Time
}

// Decider carries decisions to the approval workflows.
type Decider interface {
	// Decide returns a one-line outcome for the user, or an error whose text
	// says why the decision was refused.
	Decide(ctx context.Context, workflowID string, d Decision) (string, error)
	Pending(ctx context.Context) ([]Pending, error)
}

// Config is what the server needs.
type Config struct {
	SigningSecret string
	Directory     *directory.Directory
	Decider       Decider
	// Audit receives one JSON line per request, accepted or refused.
	Audit io.Writer
}

// replayWindow is how long a seen signature is remembered: longer than the
// 5 minutes a timestamp stays fresh, so a replay is refused either way.
const replayWindow = 10 * time.Minute

// Server is the chat ops HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	mu      sync.Mutex
	seen    map[string]time.Time
	auditMu sync.Mutex
}

// NewServer builds the handler; it refuses to run without a signing secret.
func NewServer(cfg Config) (*Server, error) {
	if cfg.SigningSecret == "" {
		return nil, errors.New("chat ops needs the Slack signing secret (INFRAFLOW_SLACK_SIGNING_SECRET or --chat-signing-secret-file)")
	}
	if cfg.Directory == nil || cfg.Decider == nil {
		return nil, errors.New("chat ops needs a directory and a decider")
	}
	if cfg.Audit == nil {
		cfg.Audit = io.Discard
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), seen: map[string]time.Time{}}
	s.mux.HandleFunc("POST "+CommandsPath, s.verified(s.command))
	s.mux.HandleFunc("POST "+InteractivePath, s.verified(s.interaction))
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AuditRecord is one line of the chat ops audit log.
type AuditRecord struct {
	At         time.Time `json:"at"`
	Path       string    `json:"path"`
	ChatUser   string    `json:"chatUser,omitempty"`
	Approver   string    `json:"approver,omitempty"`
	Command    string    `json:"command,omitempty"`
	WorkflowID string    `json:"workflowId,omitempty"`
	Outcome    string    `json:"outcome"` // accepted or refused
	Reason     string    `json:"reason"`
}

// reply is the ephemeral answer the chat user sees.
type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

type request struct {
	body   []byte
	record AuditRecord
	// responseURL, set by button clicks, is where Slack shows the answer to
	// a click (it ignores the HTTP response body of interactions).
	responseURL string
}

// verified checks Slack's v0 signature (HMAC-SHA256 of "v0:timestamp:body"),
// the 5-minute timestamp window and replays before handle sees the request.
func (s *Server) verified(handle func(context.Context, *request) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &request{record: AuditRecord{At: time.Now().UTC(), Path: r.URL.Path}}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			s.refuse(w, http.StatusBadRequest, req, "unreadable request body: "+err.Error())
			return
		}
		req.body = body
		verifier, err := slack.NewSecretsVerifier(r.Header, s.cfg.SigningSecret)
		switch {
		case errors.Is(err, slack.ErrExpiredTimestamp):
			s.refuse(w, http.StatusUnauthorized, req, "stale request: its timestamp is more than 5 minutes from now")
			return
		case err != nil:
			s.refuse(w, http.StatusUnauthorized, req, "unsigned request: "+err.Error())
			return
		}
		_, _ = verifier.Write(body)
		if err := verifier.Ensure(); err != nil {
			s.refuse(w, http.StatusUnauthorized, req, "forged request: the signature does not match the body")
			return
		}
		if !s.firstUse(r.Header.Get("X-Slack-Signature")) {
			s.refuse(w, http.StatusUnauthorized, req, "replayed request: this signed request was already received")
			return
		}
		text, err := handle(r.Context(), req)
		if err != nil {
			s.refuse(w, http.StatusOK, req, err.Error())
			s.respondLater(req, "Refused: "+err.Error())
			return
		}
		req.record.Outcome, req.record.Reason = "accepted", text
		s.audit(req.record)
		writeReply(w, http.StatusOK, text)
		s.respondLater(req, text)
	}
}

func (s *Server) refuse(w http.ResponseWriter, status int, req *request, why string) {
	req.record.Outcome, req.record.Reason = "refused", why
	s.audit(req.record)
	writeReply(w, status, "Refused: "+why)
}

func writeReply(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(reply{ResponseType: "ephemeral", Text: text})
}

// respondLater posts the answer to an interaction's response_url. The URL
// came in a signed payload, so it is Slack's own.
func (s *Server) respondLater(req *request, text string) {
	if req.responseURL == "" {
		return
	}
	body, _ := json.Marshal(reply{ResponseType: "ephemeral", Text: text})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, req.responseURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	r.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(r); err == nil {
		_ = resp.Body.Close()
	}
}

func (s *Server) audit(rec AuditRecord) {
	line, _ := json.Marshal(rec)
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	_, _ = s.cfg.Audit.Write(append(line, '\n'))
}

// firstUse remembers a signature and says whether it was new.
func (s *Server) firstUse(signature string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for sig, at := range s.seen {
		if now.Sub(at) > replayWindow {
			delete(s.seen, sig)
		}
	}
	if _, ok := s.seen[signature]; ok {
		return false
	}
	s.seen[signature] = now
	return true
}

// approver maps the chat user to an approver identity.
func (s *Server) approver(req *request, chatUser string) (string, error) {
	req.record.ChatUser = chatUser
	name, ok := s.cfg.Directory.ByChatID(chatUser)
	if !ok {
		return "", fmt.Errorf("chat user %s is not in infraflow's directory; ask an administrator to add your chat ID", chatUser)
	}
	req.record.Approver = name
	return name, nil
}

const usage = "usage: /infraflow approve <approval-id> <reason> · /infraflow reject <approval-id> <reason> · /infraflow pending"

// command handles `/infraflow approve|reject <id> <reason>` and `/infraflow pending`.
func (s *Server) command(ctx context.Context, req *request) (string, error) {
	r, _ := http.NewRequest(http.MethodPost, CommandsPath, bytes.NewReader(req.body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		return "", fmt.Errorf("malformed slash command: %w", err)
	}
	req.record.Command = strings.TrimSpace(cmd.Command + " " + cmd.Text)
	name, err := s.approver(req, cmd.UserID)
	if err != nil {
		return "", err
	}
	verb, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	switch verb {
	case "pending":
		return s.pending(ctx, name)
	case ApproveActionID, RejectActionID:
		id, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
		if id == "" {
			return "", errors.New(usage)
		}
		req.record.WorkflowID = id
		return s.cfg.Decider.Decide(ctx, id, Decision{Approver: name, Decision: verb, Reason: strings.TrimSpace(reason)})
	default:
		return "", errors.New(usage)
	}
}

// interaction handles the Approve/Reject buttons of a posted request; the
// reason comes from the message's reason box.
func (s *Server) interaction(ctx context.Context, req *request) (string, error) {
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		return "", fmt.Errorf("malformed interaction: %w", err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		return "", fmt.Errorf("malformed interaction payload: %w", err)
	}
	req.responseURL = cb.ResponseURL
	name, err := s.approver(req, cb.User.ID)
	if err != nil {
		return "", err
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return "", fmt.Errorf("unsupported interaction %q: only Approve/Reject buttons are handled", cb.Type)
	}
	action := cb.ActionCallback.BlockActions[0]
	if action.ActionID != ApproveActionID && action.ActionID != RejectActionID {
		return "", fmt.Errorf("unknown action %q", action.ActionID)
	}
	var reason string
	if cb.BlockActionState != nil {
		reason = strings.TrimSpace(cb.BlockActionState.Values[ReasonBlockID][ReasonActionID].Value)
	}
	req.record.Command = action.ActionID + " button"
	req.record.WorkflowID = action.Value
	return s.cfg.Decider.Decide(ctx, action.Value, Decision{Approver: name, Decision: action.ActionID, Reason: reason})
}

func (s *Server) pending(ctx context.Context, approver string) (string, error) {
	open, err := s.cfg.Decider.Pending(ctx)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, p := range open {
		mark := ""
		for _, a := range p.Awaiting {
			if a == approver {
				mark = " ← awaiting you"
			}
		}
		lines = append(lines, fmt.Sprintf("• %s: %s (by %s, %d/%d, expires %s)%s", p.WorkflowID, p.Title, p.Requester,
			p.Approvals, p.Quorum, p.ExpiresAt.UTC().Format(time.RFC3339), mark))
	}
	if len(lines) == 0 {
		return "No pending approvals.", nil
	}
	return "Pending approvals:\n" + strings.Join(lines, "\n"), nil
}
