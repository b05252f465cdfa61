package approvals

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"

	"github.com/infraflow/infraflow/internal/chatops"
	"github.com/infraflow/infraflow/internal/directory"
)

// ChatOptions configure the chat ops endpoint.
type ChatOptions struct {
	Address   string
	Secret    string
	Directory *directory.Directory
	// DataDir receives the chat ops audit log and the replay guard's file.
	DataDir string
	// RelayKey signs the decisions chat ops has verified (Slack signature +
	// directory): the directory lists its public key under relays.
	RelayKey ed25519.PrivateKey
}

// ServeChat runs the chat ops endpoint, deciding through c, until stop.
func ServeChat(c *Client, o ChatOptions) (stop func(), err error) {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	audit, err := os.OpenFile(filepath.Join(o.DataDir, chatops.AuditLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the chat ops audit log: %w", err)
	}
	replay, err := chatops.OpenReplayGuard(filepath.Join(o.DataDir, chatops.ReplayFile))
	if err != nil {
		_ = audit.Close()
		return nil, err
	}
	server, err := chatops.NewServer(chatops.Config{SigningSecret: o.Secret, Directory: o.Directory,
		Decider: ChatDecider{Client: c, RelayKey: o.RelayKey}, Audit: audit, Replay: replay})
	if err == nil {
		var srv interface{ Close() error }
		if srv, err = chatops.Listen(o.Address, server); err == nil {
			return func() { _ = srv.Close(); _ = audit.Close(); _ = replay.Close() }, nil
		}
	}
	_ = audit.Close()
	_ = replay.Close()
	return nil, err
}
