package benchenv

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/payloadcodec"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
)

// Namespace is the namespace the benchmarks' platforms serve.
const Namespace = "default"

// DevDirectory writes the directory a `worker --dev` platform in platformDir
// judges approvals by (the built-in example: unsigned requests allowed, the
// platform's chat relay trusted) to dir/directory.json, for a separate worker
// (--directory) that runs approvals beside it: without it that worker has
// no directory allowing unsigned requesters, and every approval the
// benchmark starts fails.
func DevDirectory(platformDir, dir string) (string, error) {
	relayKeyFile := filepath.Join(platformDir, "chat-relay-key")
	relay, err := keyfile.Load(relayKeyFile)
	if err != nil {
		return "", fmt.Errorf("the platform's chat relay key %s: %w", relayKeyFile, err)
	}
	raw, err := json.Marshal(directory.Example().WithRelay("chatops-dev", signing.AuthorizedKey(keyfile.Public(relay), "chatops-dev")))
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "directory.json")
	return path, os.WriteFile(path, raw, 0o644)
}

// Dial connects a benchmark's client to the platform's frontend, encrypting
// with the platform's codec keys as the starter does. The SDK logs below
// level are dropped (it logs every reconnect while a worker is down).
func Dial(frontend, keyFile string, level slog.Level) (client.Client, error) {
	keys, err := payloadcodec.LoadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("the platform's codec keys: %w", err)
	}
	codec, err := payloadcodec.New(keys, "codec key file "+keyFile)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(client.Options{HostPort: frontend, Namespace: Namespace, DataConverter: payloadcodec.DataConverter(codec),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))})
	if err != nil {
		return nil, fmt.Errorf("connecting the benchmark's client to %s: %w", frontend, err)
	}
	return c, nil
}
