package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// signingSecret is the Slack app secret every test platform runs with.
const signingSecret = "e2e-signing-secret"

// webhookReceiver is a local HTTP server in Slack's incoming-webhook role.
type webhookReceiver struct {
	server *httptest.Server
	mu     sync.Mutex
	posts  []webhookPost
}

type webhookPost struct {
	Text   string            `json:"text"`
	Blocks []json.RawMessage `json:"blocks"`
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{}
	w.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var post webhookPost
		if err := json.NewDecoder(r.Body).Decode(&post); err != nil {
			t.Errorf("webhook received non-JSON: %v", err)
		}
		w.mu.Lock()
		w.posts = append(w.posts, post)
		w.mu.Unlock()
	}))
	t.Cleanup(w.server.Close)
	return w
}

func (w *webhookReceiver) url() string { return w.server.URL }

// waitFor waits for a post whose text contains all of want.
func (w *webhookReceiver) waitFor(t *testing.T, want ...string) webhookPost {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, p := range w.posts {
			if containsAll(p.Text, want...) {
				w.mu.Unlock()
				return p
			}
		}
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no webhook post containing %q; got %+v", want, w.posts)
	return webhookPost{}
}

func containsAll(s string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// chatRequest is one request to the chat ops endpoint, signed as Slack signs.
type chatRequest struct {
	path      string
	body      string
	timestamp time.Time
	secret    string
	// signature, when set, replaces the computed one (forgeries, replays).
	signature string
}

func slashCommand(chatUser, text string) chatRequest {
	form := url.Values{"command": {"/infraflow"}, "text": {text}, "user_id": {chatUser}, "team_id": {"T0E2E"}}
	return chatRequest{path: "/slack/commands", body: form.Encode(), timestamp: time.Now(), secret: signingSecret}
}

func buttonClick(chatUser, action, workflowID, reason string) chatRequest {
	payload := map[string]any{
		"type": "block_actions",
		"user": map[string]any{"id": chatUser},
		"actions": []map[string]any{{
			"type": "button", "action_id": action, "block_id": "infraflow_decision", "value": workflowID,
		}},
		"state": map[string]any{"values": map[string]any{
			"infraflow_reason": map[string]any{"reason": map[string]any{"type": "plain_text_input", "value": reason}},
		}},
	}
	raw, _ := json.Marshal(payload)
	return chatRequest{path: "/slack/interactive", body: url.Values{"payload": {string(raw)}}.Encode(), timestamp: time.Now(), secret: signingSecret}
}

// sign computes Slack's v0 signature: HMAC-SHA256 over "v0:timestamp:body".
func (c chatRequest) sign() (timestamp, signature string) {
	timestamp = strconv.FormatInt(c.timestamp.Unix(), 10)
	if c.signature != "" {
		return timestamp, c.signature
	}
	mac := hmac.New(sha256.New, []byte(c.secret))
	fmt.Fprintf(mac, "v0:%s:%s", timestamp, c.body)
	return timestamp, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

type chatReply struct {
	status int
	Text   string `json:"text"`
}

func (p *platform) chatSend(t *testing.T, c chatRequest) chatReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.chat+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	ts, sig := c.sign()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	reply := chatReply{status: resp.StatusCode}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatalf("chat ops answered %d with non-JSON %q", resp.StatusCode, body)
	}
	return reply
}
