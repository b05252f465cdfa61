package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// browserPage opens url in headless Chromium through chromedriver (the
// WebDriver protocol, plain HTTP) and waits until the page's DOM contains
// want: the Web UI is a single-page app that loads, asks the codec endpoint
// to decode and renders. It returns the DOM and a PNG screenshot. (Chromium's
// own --dump-dom with --virtual-time-budget never returns on this page.)
func browserPage(t *testing.T, driver, url, want string) (dom string, png []byte) {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(driver, "--port="+port)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromedriver: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	call := func(method, path string, body any, out any) error {
		var reader io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			reader = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, base+path, reader)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s: %.500s", method, path, resp.Status, data)
		}
		if out != nil {
			return json.Unmarshal(data, &struct {
				Value any `json:"value"`
			}{out})
		}
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for call("GET", "/status", nil, nil) != nil {
		if time.Now().After(deadline) {
			t.Fatal("chromedriver did not answer within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1200"}
	if err := call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"goog:chromeOptions": map[string]any{"args": args}}}}, &session); err != nil {
		t.Fatalf("opening a browser session: %v", err)
	}
	sessionPath := "/session/" + session.SessionID
	t.Cleanup(func() { _ = call("DELETE", sessionPath, nil, nil) })
	if err := call("POST", sessionPath+"/url", map[string]string{"url": url}, nil); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	// A loaded machine renders slowly; the page is done once want shows.
	for deadline = time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if err := call("GET", sessionPath+"/source", nil, &dom); err == nil && strings.Contains(dom, want) {
			break
		}
	}
	var shot string
	if err := call("GET", sessionPath+"/screenshot", nil, &shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	png, _ = base64.StdEncoding.DecodeString(shot)
	return dom, png
}

// testWebUIShowsDecodedPayloads opens a workflow's history in the embedded
// Web UI with a real browser: the UI asks the platform's codec endpoint to
// decode (CORS, from the UI's origin) and shows the input in clear text.
func testWebUIShowsDecodedPayloads(t *testing.T, p *platform) {
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Fatal("chromedriver is not installed: make tools installs chromium and chromium-driver, which the Web UI check needs")
	}
	marker := newMarker(t)
	id := "codec-ui"
	p.startApproval(id, fmt.Sprintf(`{"title": "ui decode check", "requester": "dave", "groups": ["sre"], "payload": %q}`, marker))
	p.waitForEvent(t, id, "workflowTaskCompletedEventAttributes")
	p.assertEncryptedAtRest(t, id, marker)

	var described struct {
		WorkflowExecutionInfo struct {
			Execution struct {
				RunID string `json:"runId"`
			} `json:"execution"`
		} `json:"workflowExecutionInfo"`
	}
	if err := json.Unmarshal([]byte(p.mustTemporal("workflow", "describe", "--workflow-id", id, "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/namespaces/default/workflows/%s/%s/history", p.ui, id, described.WorkflowExecutionInfo.Execution.RunID)
	dom, png := browserPage(t, driver, url, marker)
	// A screenshot for people to look at, when asked for.
	if dir := os.Getenv("INFRAFLOW_UI_SCREENSHOT_DIR"); dir != "" {
		file := filepath.Join(dir, "codec-ui-history.png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot of %s: %s (marker %s)", url, file, marker)
	}
	if !strings.Contains(dom, marker) {
		t.Errorf("the Web UI page %s does not show the decoded input (marker %s); DOM (%d bytes):\n%.3000s", url, marker, len(dom), dom)
	}
}
