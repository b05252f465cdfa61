package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium renders a page headless and returns its DOM after the single-page
// app had time to load, decode and render; with screenshot set it also
// writes a PNG.
func chromium(t *testing.T, bin, url, screenshot string) string {
	t.Helper()
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,1100", "--virtual-time-budget=20000"}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// TestWebUIShowsDecodedPayloads opens a workflow's history in the embedded
// Web UI with a real browser: the UI asks the platform's codec endpoint to
// decode (CORS, from the UI's origin) and shows the input in clear text.
func TestWebUIShowsDecodedPayloads(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make tools installs it): the Web UI check needs a browser")
	}
	p := newPlatform(t)
	p.start()
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
	// A screenshot for people to look at, when asked for.
	if dir := os.Getenv("INFRAFLOW_UI_SCREENSHOT_DIR"); dir != "" {
		file := filepath.Join(dir, "codec-ui-history.png")
		chromium(t, browser, url, file)
		t.Logf("screenshot of %s: %s (marker %s)", url, file, marker)
	}
	dom := chromium(t, browser, url, "")
	if !strings.Contains(dom, marker) {
		t.Errorf("the Web UI page %s does not show the decoded input (marker %s); DOM (%d bytes):\n%.3000s", url, marker, len(dom), dom)
	}
}
