package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/infraflow/infraflow/internal/payloadcodec"
)

// storedPayload is one payload as `temporal workflow show -o json` prints it,
// with where in the history it sits.
type storedPayload struct {
	event    string // e.g. workflowExecutionStartedEventAttributes
	encoding string
	keyID    string
	data     []byte
}

// historyPayloads walks a `temporal workflow show -o json
// --no-json-shorthand-payloads` document (every payload as metadata and
// base64 data) and
// returns every payload (an object with metadata and data) outside search
// attributes, memos and headers, which the codec does not encode by design.
func historyPayloads(t *testing.T, history string) []storedPayload {
	t.Helper()
	var doc struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal([]byte(history), &doc); err != nil {
		t.Fatalf("parsing history: %v\n%s", err, history)
	}
	var out []storedPayload
	var walk func(event string, v any)
	walk = func(event string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if md, ok := v["metadata"].(map[string]any); ok {
				if _, hasData := v["data"]; hasData || md["encoding"] != nil {
					p := storedPayload{event: event}
					p.encoding = b64(t, md["encoding"])
					p.keyID = b64(t, md[payloadcodec.MetadataEncryptionKeyID])
					p.data = []byte(b64(t, v["data"]))
					out = append(out, p)
					return
				}
			}
			for k, child := range v {
				if k == "searchAttributes" || k == "memo" || k == "header" {
					continue
				}
				if strings.HasSuffix(k, "EventAttributes") {
					walk(k, child)
				} else {
					walk(event, child)
				}
			}
		case []any:
			for _, child := range v {
				walk(event, child)
			}
		}
	}
	for _, e := range doc.Events {
		walk("", e)
	}
	return out
}

func b64(t *testing.T, v any) string {
	s, _ := v.(string)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("payload field %q is not base64: %v", s, err)
	}
	return string(raw)
}

func newMarker(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "codecmarker" + hex.EncodeToString(b)
}

func writeKeyFile(t *testing.T, path string, keys ...payloadcodec.Key) {
	t.Helper()
	if err := os.WriteFile(path, []byte(payloadcodec.FormatKeys(keys)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitForEvent waits until a workflow's (decoded) history has an event of the
// given kind, e.g. "activityTaskScheduledEventAttributes".
func (p *platform) waitForEvent(t *testing.T, id, kind string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := p.temporal("workflow", "show", "--workflow-id", id, "-o", "json")
		if err == nil && strings.Contains(out, kind) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no %s after 60s (err %v):\n%s", id, kind, err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// assertEncryptedAtRest checks the history as the server stores it: the
// marker appears nowhere (not in the JSON, not in any base64-decoded payload)
// and every payload is encrypted; it returns the payloads.
func (p *platform) assertEncryptedAtRest(t *testing.T, id, marker string) []storedPayload {
	t.Helper()
	raw, err := p.temporalRaw("workflow", "show", "--workflow-id", id, "-o", "json", "--no-json-shorthand-payloads")
	if err != nil {
		t.Fatal(err)
	}
	payloads := historyPayloads(t, raw)
	if len(payloads) == 0 {
		t.Fatalf("%s: no payloads found in the raw history:\n%s", id, raw)
	}
	if strings.Contains(raw, marker) {
		t.Errorf("%s: the marker is in the raw history JSON", id)
	}
	for _, pl := range payloads {
		if bytes.Contains(pl.data, []byte(marker)) {
			t.Errorf("%s: the marker is readable in a stored payload of %s", id, pl.event)
		}
		if pl.encoding != payloadcodec.EncodingEncrypted || pl.keyID == "" {
			t.Errorf("%s: a payload of %s is stored as %q (key %q), want %s with a key ID", id, pl.event, pl.encoding, pl.keyID, payloadcodec.EncodingEncrypted)
		}
	}
	return payloads
}

// assertReadableThroughCodec checks that `temporal workflow show
// --codec-endpoint` shows the marker in a decoded payload.
func (p *platform) assertReadableThroughCodec(t *testing.T, id, marker string) {
	t.Helper()
	decoded := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json", "--no-json-shorthand-payloads")
	for _, pl := range historyPayloads(t, decoded) {
		if pl.encoding == payloadcodec.EncodingEncrypted {
			t.Errorf("%s: a payload of %s is still encrypted after --codec-endpoint", id, pl.event)
		}
		if bytes.Contains(pl.data, []byte(marker)) {
			return
		}
	}
	t.Errorf("%s: the marker is not in any payload decoded through the codec endpoint:\n%s", id, decoded)
}

func TestWorkflowInputsAreEncryptedAndKeysRotate(t *testing.T) {
	t.Parallel()
	k1, k2 := mustNewKey(t, "k1"), mustNewKey(t, "k2")
	keyDir := t.TempDir()
	p := newPlatform(t)
	p.keyFile = filepath.Join(keyDir, "keys-1")
	writeKeyFile(t, p.keyFile, k1)
	p.extraArgs = []string{"--codec-keys", p.keyFile}
	p.start()
	if banner := p.log.String(); !strings.Contains(banner, `new payloads with key "k1"`) || !strings.Contains(banner, "http://"+p.codec) {
		t.Errorf("banner does not name the encrypting key and the codec endpoint:\n%s", banner)
	}

	// ProvisionStack: the marker is a config value.
	provisionMarker := newMarker(t)
	provisionID := "provision-local-codec"
	p.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", p.taskQueue, "--workflow-id", provisionID,
		"--input", fmt.Sprintf(`{"program": "local", "stack": "codec", "operation": "preview", "requester": "dave",
			"config": {"image": "registry.invalid/%s:1.0"}}`, provisionMarker))
	// ConfigureHosts: the marker is an extra var; the host does not exist, so
	// the run cannot get far, but its input and first activity are in history.
	configureMarker := newMarker(t)
	configureID := "configure-codec"
	p.mustTemporal("workflow", "start", "--type", "ConfigureHosts", "--task-queue", p.taskQueue, "--workflow-id", configureID,
		"--input", fmt.Sprintf(`{"playbook": "site.yml", "inventory": {"hosts": [{"name": "web-1", "address": "127.0.0.1", "port": 1, "user": "nobody"}]},
			"extraVars": {"app_message": %q}}`, configureMarker))
	for id, marker := range map[string]string{provisionID: provisionMarker, configureID: configureMarker} {
		// The worker has decoded the input and scheduled an activity with it.
		p.waitForEvent(t, id, "activityTaskScheduledEventAttributes")
		payloads := p.assertEncryptedAtRest(t, id, marker)
		for _, pl := range payloads {
			if pl.keyID != "k1" {
				t.Errorf("%s: payload of %s has key %q, want k1", id, pl.event, pl.keyID)
			}
		}
		p.assertReadableThroughCodec(t, id, marker)
		p.mustTemporal("workflow", "terminate", "--workflow-id", id, "--reason", "codec test done")
	}

	// Rotation: an approval waits under key 1 ...
	approvalMarker := newMarker(t)
	p.startApproval("codec-rotation", fmt.Sprintf(`{"title": "rotate keys", "requester": "dave", "groups": ["sre"], "payload": %q}`, approvalMarker))
	p.webhook.waitFor(t, "Approval requested by dave", "rotate keys")
	p.kill()

	// ... and a platform holding keys [k2, k1] continues it: the decision
	// (from chat) and the result are written with k2.
	p.keyFile = filepath.Join(keyDir, "keys-2-1")
	writeKeyFile(t, p.keyFile, k2, k1)
	p.extraArgs = []string{"--codec-keys", p.keyFile}
	p.start()
	if reply := p.chatSend(t, slashCommand("U0ALICE", "approve codec-rotation rotated")); reply.status != 200 || !strings.Contains(reply.Text, "now approved") {
		t.Fatalf("chat approve answered %d %q", reply.status, reply.Text)
	}
	if st := p.approvalResult("codec-rotation"); st.Status != "approved" {
		t.Fatalf("approval after rotation = %+v, want approved", st)
	}
	payloads := p.assertEncryptedAtRest(t, "codec-rotation", approvalMarker)
	p.assertReadableThroughCodec(t, "codec-rotation", approvalMarker)
	keysOf := map[string]map[string]bool{}
	for _, pl := range payloads {
		if keysOf[pl.event] == nil {
			keysOf[pl.event] = map[string]bool{}
		}
		keysOf[pl.event][pl.keyID] = true
	}
	if started := keysOf["workflowExecutionStartedEventAttributes"]; !started["k1"] || len(started) != 1 {
		t.Errorf("input written before the rotation has keys %v, want k1", started)
	}
	if completed := keysOf["workflowExecutionCompletedEventAttributes"]; !completed["k2"] || len(completed) != 1 {
		t.Errorf("result written after the rotation has keys %v, want k2 (all payloads: %v)", completed, keysOf)
	}

	// A reader holding only k2 gets an error naming k1, through a standalone
	// `starter codec-server` and the CLI as well as in Go.
	onlyK2 := filepath.Join(keyDir, "keys-2")
	writeKeyFile(t, onlyK2, k2)
	codecK2, err := payloadcodec.New([]payloadcodec.Key{k2}, "codec key file "+onlyK2)
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range payloads {
		if pl.keyID != "k1" {
			continue
		}
		_, err := codecK2.Decode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte(pl.encoding), payloadcodec.MetadataEncryptionKeyID: []byte(pl.keyID)}, Data: pl.data}})
		if err == nil || !strings.Contains(err.Error(), `payload encrypted with key "k1", which this process does not hold`) {
			t.Errorf("decoding a k1 payload with only k2: %v", err)
		}
		break
	}
	tokenFile := filepath.Join(keyDir, "token")
	if err := os.WriteFile(tokenFile, []byte("codec-e2e-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var k1Payload *commonpb.Payload
	for _, pl := range payloads {
		if pl.keyID == "k1" {
			k1Payload = &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(pl.encoding), payloadcodec.MetadataEncryptionKeyID: []byte(pl.keyID)}, Data: pl.data}
			break
		}
	}
	if k1Payload == nil {
		t.Fatal("no k1 payload in the rotated history")
	}
	for name, tc := range map[string]struct {
		keys       string
		auth       string
		wantStatus int
		wantBody   []string
	}{
		"only k2":       {keys: onlyK2, auth: "Bearer codec-e2e-token", wantStatus: 400, wantBody: []string{`payload encrypted with key "k1", which this process does not hold`, onlyK2}},
		"no token":      {keys: p.keyFile, wantStatus: 401, wantBody: []string{"missing or wrong bearer token"}},
		"wrong token":   {keys: p.keyFile, auth: "Bearer nope", wantStatus: 401, wantBody: []string{"missing or wrong bearer token"}},
		"k2, k1, token": {keys: p.keyFile, auth: "Bearer codec-e2e-token", wantStatus: 200},
	} {
		t.Run(name, func(t *testing.T) {
			url := startCodecServer(t, tc.keys, tokenFile)
			// The protocol as the Web UI speaks it, to see the server's answer ...
			status, body := postDecode(t, url, tc.auth, k1Payload)
			if status != tc.wantStatus {
				t.Errorf("POST /decode: status %d, want %d: %s", status, tc.wantStatus, body)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("POST /decode answer %q lacks %q", body, want)
				}
			}
			// ... and the real CLI: it shows the decoded history only with the
			// keys and the token (it retries a failing codec, then gives up
			// without printing the cause).
			args := []string{"workflow", "show", "--workflow-id", "codec-rotation", "-o", "json", "--no-json-shorthand-payloads", "--codec-endpoint", url}
			if tc.auth != "" {
				args = append(args, "--codec-auth", tc.auth)
			}
			out, err := p.temporalRaw(args...)
			if tc.wantStatus != 200 {
				if err == nil || strings.Contains(out, approvalMarker) {
					t.Errorf("temporal workflow show through a codec that must refuse: err %v, output:\n%s", err, out)
				}
				return
			}
			if err != nil || !strings.Contains(decodedPayloadText(t, out), approvalMarker) {
				t.Fatalf("show through the standalone codec server: %v\n%s", err, out)
			}
		})
	}
}

// postDecode sends one payload to a codec endpoint's /decode.
func postDecode(t *testing.T, url, auth string, payload *commonpb.Payload) (int, string) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{payload}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"/decode", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func decodedPayloadText(t *testing.T, history string) string {
	var b strings.Builder
	for _, pl := range historyPayloads(t, history) {
		b.Write(pl.data)
		b.WriteString("\n")
	}
	return b.String()
}

// startCodecServer runs `starter codec-server` with the given keys and token.
func startCodecServer(t *testing.T, keyFile, tokenFile string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, starterBin, "codec-server", "--codec-keys", keyFile, "--listen", addr, "--token-file", tokenFile)
	cmd.Env = withoutTemporalEnv()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "codec server listening") {
		if time.Now().After(deadline) {
			t.Fatalf("starter codec-server not ready:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "http://" + addr
}

func mustNewKey(t *testing.T, id string) payloadcodec.Key {
	t.Helper()
	k, err := payloadcodec.NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWorkerOutsideDevRefusesToRunWithoutKeys(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(workerBin, "--address", freeAddr(t), "--metrics-address", "")
	cmd.Dir = ".."
	cmd.Env = withoutTemporalEnv()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no payload encryption keys configured") || !strings.Contains(string(out), "--insecure-no-codec") {
		t.Fatalf("worker without keys: err %v, output:\n%s", err, out)
	}
}
