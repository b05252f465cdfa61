package approvals

import (
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
	// DataDir receives the chat ops audit log.
	DataDir string
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
	server, err := chatops.NewServer(chatops.Config{SigningSecret: o.Secret, Directory: o.Directory, Decider: ChatDecider{Client: c}, Audit: audit})
	if err == nil {
		var srv interface{ Close() error }
		if srv, err = chatops.Listen(o.Address, server); err == nil {
			return func() { _ = srv.Close(); _ = audit.Close() }, nil
		}
	}
	_ = audit.Close()
	return nil, err
}
