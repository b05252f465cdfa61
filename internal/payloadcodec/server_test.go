package payloadcodec

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const uiOrigin = "http://127.0.0.1:8233"

// startServer runs the real codec server on a free loopback port.
func startServer(t *testing.T, c *Codec, o HandlerOptions) string {
	t.Helper()
	srv, err := Serve("127.0.0.1:0", c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL
}

func do(t *testing.T, method, url string, body []byte, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCORSAllowsOnlyTheWebUIOrigin(t *testing.T) {
	url := startServer(t, mustCodec(t, mustKey(t, "k1")), HandlerOptions{AllowedOrigins: []string{uiOrigin}})
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}

	resp, _ := do(t, http.MethodOptions, url+"/decode", nil, merge(preflight, map[string]string{"Origin": uiOrigin}))
	h := resp.Header
	if resp.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != uiOrigin ||
		h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Headers") != "Content-Type,X-Namespace,Authorization" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from the UI origin: %d %v", resp.StatusCode, h)
	}

	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:8234", "http://localhost:8233"} {
		resp, _ := do(t, http.MethodOptions, url+"/decode", nil, merge(preflight, map[string]string{"Origin": origin}))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("preflight from %s: status %d, want 403", origin, resp.StatusCode)
		}
		for name := range resp.Header {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Errorf("preflight from %s got CORS header %s", origin, name)
			}
		}
		resp, _ = do(t, http.MethodPost, url+"/decode", payloadsJSON(t), map[string]string{"Origin": origin, "Content-Type": "application/json"})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("POST from %s: status %d, ACAO %q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// The actual request from the UI carries the CORS answer too.
	resp, _ = do(t, http.MethodPost, url+"/decode", payloadsJSON(t), map[string]string{"Origin": uiOrigin, "Content-Type": "application/json"})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
		t.Errorf("POST from the UI origin: %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestBearerToken(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	url := startServer(t, c, HandlerOptions{AllowedOrigins: []string{uiOrigin}, Token: "s3cret-token"})
	body := payloadsJSON(t, encodeOne(t, c, jsonPayload(t, marker)))
	for name, auth := range map[string]string{"missing": "", "wrong": "Bearer nope", "not bearer": "Basic s3cret-token", "prefix only": "Bearer s3cret"} {
		headers := map[string]string{"Content-Type": "application/json"}
		if auth != "" {
			headers["Authorization"] = auth
		}
		resp, text := do(t, http.MethodPost, url+"/decode", body, headers)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(text, marker) {
			t.Errorf("%s token: status %d body %q, want 401 without the payload", name, resp.StatusCode, text)
		}
	}
	// A preflight never carries credentials, so it must pass without them.
	resp, _ := do(t, http.MethodOptions, url+"/decode", nil, map[string]string{"Origin": uiOrigin, "Access-Control-Request-Method": "POST"})
	if resp.StatusCode/100 != 2 {
		t.Errorf("preflight with a token configured: %d", resp.StatusCode)
	}
	resp, text := do(t, http.MethodPost, url+"/decode", body, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s3cret-token"})
	if resp.StatusCode != 200 || !strings.Contains(text, b64String(marker)) {
		t.Errorf("right token: %d %s", resp.StatusCode, text)
	}
}

func TestDecodeAndEncodeEndpoints(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	url := startServer(t, c, HandlerOptions{})
	enc := encodeOne(t, c, jsonPayload(t, map[string]string{"extraVar": marker}))
	headers := map[string]string{"Content-Type": "application/json", "X-Namespace": "default"}

	resp, text := do(t, http.MethodPost, url+"/decode", payloadsJSON(t, enc), headers)
	if resp.StatusCode != 200 {
		t.Fatalf("/decode: %d %s", resp.StatusCode, text)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal([]byte(text), &decoded); err != nil {
		t.Fatal(err)
	}
	var value map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(decoded.Payloads[0], &value); err != nil || value["extraVar"] != marker {
		t.Fatalf("/decode gave %v (%v)", value, err)
	}

	// /encode gives a payload this codec (and only a key holder) can read.
	resp, text = do(t, http.MethodPost, url+"/encode", payloadsJSON(t, jsonPayload(t, marker)), headers)
	var encoded commonpb.Payloads
	if err := protojson.Unmarshal([]byte(text), &encoded); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/encode: %d %s %v", resp.StatusCode, text, err)
	}
	if strings.Contains(text, b64String(marker)) || string(encoded.Payloads[0].Metadata[MetadataEncryptionKeyID]) != "k1" {
		t.Errorf("/encode answer is not encrypted with k1: %s", text)
	}

	// A payload under a key the server lacks: the error names the key.
	foreign := encodeOne(t, mustCodec(t, mustKey(t, "k9")), jsonPayload(t, marker))
	resp, text = do(t, http.MethodPost, url+"/decode", payloadsJSON(t, foreign), headers)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, `key "k9"`) {
		t.Errorf("/decode of a k9 payload: %d %q", resp.StatusCode, text)
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// b64String is how a JSON payload's data appears in protojson: the JSON
// encoding of the value, base64. A substring check on the marker's own
// base64 would depend on alignment, so the whole JSON string value is used.
func b64String(s string) string {
	b, _ := json.Marshal(s)
	return strings.TrimRight(protojsonBytes(b), "=")
}

func protojsonBytes(b []byte) string {
	out, _ := protojson.Marshal(&commonpb.Payload{Data: b})
	var v struct{ Data string }
	_ = json.Unmarshal(out, &v)
	return v.Data
}
