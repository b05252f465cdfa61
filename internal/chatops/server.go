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
	// Replay remembers the signed requests already received; share one file
	// (OpenReplayGuard) between every endpoint and across restarts. Default:
	// in memory, for this server only.
	Replay ReplayGuard
}

// Server is the chat ops HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
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
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryReplayGuard()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
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
		first, err := s.cfg.Replay.FirstUse(r.Header.Get("X-Slack-Signature"), time.Now())
		if err != nil {
			s.refuse(w, http.StatusServiceUnavailable, req, "cannot check for replays now: "+err.Error())
			return
		}
		if !first {
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
	cmd, err := ParseCommand(req.body)
	if err != nil {
		return "", err
	}
	req.record.Command = strings.TrimSpace(cmd.Command + " " + cmd.Text)
	name, err := s.approver(req, cmd.UserID)
	if err != nil {
		return "", err
	}
	switch cmd.Verb {
	case "pending":
		return s.pending(ctx, name)
	case ApproveActionID, RejectActionID:
		if cmd.WorkflowID == "" {
			return "", errors.New(usage)
		}
		req.record.WorkflowID = cmd.WorkflowID
		return s.cfg.Decider.Decide(ctx, cmd.WorkflowID, Decision{Approver: name, Decision: cmd.Verb, Reason: cmd.Reason})
	default:
		return "", errors.New(usage)
	}
}

// Command is a parsed slash command: `/infraflow <verb> [<workflow-id> [<reason>]]`.
type Command struct {
	UserID, Command, Text string
	Verb, WorkflowID      string
	Reason                string
}

// ParseCommand reads a slash command's form body (as Slack posts it).
func ParseCommand(body []byte) (Command, error) {
	r, err := http.NewRequest(http.MethodPost, CommandsPath, bytes.NewReader(body))
	if err != nil {
		return Command{}, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sc, err := slack.SlashCommandParse(r)
	if err != nil {
		return Command{}, fmt.Errorf("malformed slash command: %w", err)
	}
	c := Command{UserID: sc.UserID, Command: sc.Command, Text: sc.Text}
	verb, rest, _ := strings.Cut(strings.TrimSpace(sc.Text), " ")
	id, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
	c.Verb, c.WorkflowID, c.Reason = verb, id, strings.TrimSpace(reason)
	return c, nil
}

// Click is a parsed interaction payload (a button click).
type Click struct {
	Type        string
	UserID      string
	ResponseURL string
	// Action is the first action's ID, WorkflowID its value.
	Action     string
	WorkflowID string
	// Reason is the message's reason box.
	Reason string
}

// ParseInteraction reads an interaction's form body: payload=<JSON>.
func ParseInteraction(body []byte) (Click, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Click{}, fmt.Errorf("malformed interaction: %w", err)
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		return Click{}, fmt.Errorf("malformed interaction payload: %w", err)
	}
	c := Click{Type: string(cb.Type), UserID: cb.User.ID, ResponseURL: cb.ResponseURL}
	if len(cb.ActionCallback.BlockActions) > 0 && cb.ActionCallback.BlockActions[0] != nil {
		c.Action, c.WorkflowID = cb.ActionCallback.BlockActions[0].ActionID, cb.ActionCallback.BlockActions[0].Value
	}
	if cb.BlockActionState != nil {
		c.Reason = strings.TrimSpace(cb.BlockActionState.Values[ReasonBlockID][ReasonActionID].Value)
	}
	return c, nil
}

// decision checks the click is an Approve/Reject button.
func (c Click) decision() error {
	if c.Type != string(slack.InteractionTypeBlockActions) || c.Action == "" {
		return fmt.Errorf("unsupported interaction %q: only Approve/Reject buttons are handled", c.Type)
	}
	if c.Action != ApproveActionID && c.Action != RejectActionID {
		return fmt.Errorf("unknown action %q", c.Action)
	}
	return nil
}

// interaction handles the Approve/Reject buttons of a posted request; the
// reason comes from the message's reason box.
func (s *Server) interaction(ctx context.Context, req *request) (string, error) {
	click, err := ParseInteraction(req.body)
	if err != nil {
		return "", err
	}
	req.responseURL = click.ResponseURL
	name, err := s.approver(req, click.UserID)
	if err != nil {
		return "", err
	}
	if err := click.decision(); err != nil {
		return "", err
	}
	req.record.Command = click.Action + " button"
	req.record.WorkflowID = click.WorkflowID
	return s.cfg.Decider.Decide(ctx, click.WorkflowID, Decision{Approver: name, Decision: click.Action, Reason: click.Reason})
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
