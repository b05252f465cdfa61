package chatops

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AuditLogFile is the chat ops audit log's name inside the data directory.
const AuditLogFile = "chatops-audit.jsonl"

// SigningSecretEnv holds the Slack app's signing secret.
const SigningSecretEnv = "INFRAFLOW_SLACK_SIGNING_SECRET"

// SigningSecret reads the secret from the environment, else from file. With
// create, a missing file gets a new random secret, which is what the local
// platform uses so it runs with no Slack app at all.
func SigningSecret(file string, create bool) (string, error) {
	if s := os.Getenv(SigningSecretEnv); s != "" {
		return s, nil
	}
	if file == "" {
		return "", fmt.Errorf("no signing secret: set %s or pass a secret file", SigningSecretEnv)
	}
	data, err := os.ReadFile(file)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return "", fmt.Errorf("reading the chat signing secret: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the chat signing secret: %w", err)
	}
	return secret, nil
}

// Listen serves the chat ops endpoint on addr until Close.
func Listen(addr string, s *Server) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chat ops address %s: %w (choose another with --chat-address)", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}
