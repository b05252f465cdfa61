package chatops

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func commandBody(user, text string) string {
	return url.Values{"command": {"/infraflow"}, "text": {text}, "user_id": {user}, "team_id": {"T0"}}.Encode()
}

func clickBody(user, action, value, reason string) string {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "response_url": "https://hooks.slack.com/actions/T0/1/x",
		"actions": []map[string]any{{"type": "button", "action_id": action, "block_id": DecisionBlockID, "value": value}},
		"state": map[string]any{"values": map[string]any{
			ReasonBlockID: map[string]any{ReasonActionID: map[string]any{"type": "plain_text_input", "value": reason}},
		}},
	})
	return url.Values{"payload": {string(payload)}}.Encode()
}

func TestParseCommand(t *testing.T) {
	c, err := ParseCommand([]byte(commandBody("U0ALICE", "  approve scale-web   diff reviewed, ok ")))
	if err != nil || c.UserID != "U0ALICE" || c.Verb != "approve" || c.WorkflowID != "scale-web" || c.Reason != "diff reviewed, ok" {
		t.Errorf("ParseCommand = %+v, %v", c, err)
	}
	if _, err := ParseCommand([]byte("%zz")); err == nil {
		t.Error("a malformed form body parsed")
	}
}

func TestParseInteraction(t *testing.T) {
	c, err := ParseInteraction([]byte(clickBody("U0BOB", "reject", "open-port", " not now ")))
	if err != nil || c.UserID != "U0BOB" || c.Action != "reject" || c.WorkflowID != "open-port" || c.Reason != "not now" || c.decision() != nil {
		t.Errorf("ParseInteraction = %+v, %v", c, err)
	}
	for body, want := range map[string]string{
		"payload=%7B":                  "malformed interaction payload",
		"payload=%7B%22type%22%3A1%7D": "malformed interaction payload",
		"%zz":                          "malformed interaction",
	} {
		if _, err := ParseInteraction([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	c, _ = ParseInteraction([]byte(url.Values{"payload": {`{"type":"view_submission","user":{"id":"U0BOB"}}`}}.Encode()))
	if err := c.decision(); err == nil || !strings.Contains(err.Error(), `unsupported interaction "view_submission"`) {
		t.Errorf("view submission: %v", err)
	}
}

// FuzzParseCommand: any form body parses or fails cleanly; a parsed command
// splits its text into verb, workflow ID and reason without losing words.
func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(commandBody("U0ALICE", "approve scale-web diff reviewed")))
	f.Add([]byte(commandBody("U0DAVE", "pending")))
	f.Add([]byte(commandBody("", "")))
	f.Add([]byte("command=%2Finfraflow&text=reject+x&user_id=U1&text=again"))
	f.Add([]byte("%zz&&=="))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseCommand(body)
		if err != nil {
			return
		}
		if strings.ContainsAny(c.Verb, " ") || strings.ContainsAny(c.WorkflowID, " ") {
			t.Fatalf("verb %q or workflow ID %q holds a space", c.Verb, c.WorkflowID)
		}
		if c.Reason != "" && !strings.Contains(c.Text, c.Reason) {
			t.Fatalf("reason %q is not from the text %q", c.Reason, c.Text)
		}
		if c.WorkflowID != "" && c.Verb == "" {
			t.Fatalf("workflow ID %q without a verb in %q", c.WorkflowID, c.Text)
		}
	})
}

// FuzzParseInteraction: any payload parses or fails cleanly; an accepted
// click is an approve or reject button naming the approval it was on.
func FuzzParseInteraction(f *testing.F) {
	f.Add([]byte(clickBody("U0BOB", "approve", "open-port", "checked")))
	f.Add([]byte(clickBody("U0BOB", "delete-everything", "x", "")))
	f.Add([]byte(url.Values{"payload": {`{"type":"block_actions","user":{"id":"U1"},"actions":[null]}`}}.Encode()))
	f.Add([]byte(url.Values{"payload": {`{"type":"block_actions","state":{"values":{"infraflow_reason":null}}}`}}.Encode()))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload="))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseInteraction(body)
		if err != nil {
			return
		}
		if c.decision() == nil && (c.Action != ApproveActionID && c.Action != RejectActionID || c.Type != "block_actions") {
			t.Fatalf("accepted click %+v", c)
		}
	})
}

func TestSQLiteReplayGuardSurvivesReopenAndExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), ReplayFile)
	g, err := OpenReplayGuard(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if ok, err := g.FirstUse("v0=aa", now); !ok || err != nil {
		t.Fatalf("first use = %v %v", ok, err)
	}
	if ok, _ := g.FirstUse("v0=aa", now.Add(time.Second)); ok {
		t.Error("replay accepted by the same guard")
	}
	_ = g.Close()
	// A restart, and a second endpoint on the same file.
	g, err = OpenReplayGuard(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	other, err := OpenReplayGuard(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, _ := g.FirstUse("v0=aa", now.Add(2*time.Second)); ok {
		t.Error("replay accepted after reopening")
	}
	// Concurrent endpoints: exactly one of them takes a new signature.
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guard := g
			if i%2 == 1 {
				guard = other
			}
			ok, err := guard.FirstUse("v0=bb", now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("%d endpoints took the same signature, want 1", firsts)
	}
	// After the window the entry expires (and the table does not grow forever).
	if ok, _ := g.FirstUse("v0=cc", now.Add(ReplayWindow+time.Minute)); !ok {
		t.Error("new signature refused")
	}
	if n, _ := g.Len(); n != 1 {
		t.Errorf("%d entries remembered after expiry, want 1 (only v0=cc)", n)
	}
}
