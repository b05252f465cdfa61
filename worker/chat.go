package main

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
)

// chatRelayName is how the local platform enrolls its own chat server.
const chatRelayName = "chatops-dev"

// chatRelay loads the chat server's own signing key (created when missing)
// and says whether the directory trusts it. The built-in example directory
// of --dev enrolls it automatically; any other directory must list its
// public key under relays, or chat decisions are refused.
func chatRelay(o options, dir *directory.Directory) (ed25519.PrivateKey, *directory.Directory, string, error) {
	path := o.chatRelayKeyFile
	if path == "" {
		path = filepath.Join(o.dataDir, "chat-relay-key")
	}
	key, err := keyfile.LoadOrGenerate(path, "infraflow-chat-relay")
	if err != nil {
		return nil, dir, "", fmt.Errorf("chat relay key: %w", err)
	}
	line := signing.AuthorizedKey(keyfile.Public(key), "infraflow-chat-relay")
	switch {
	case dir.HasRelayKey(line):
		return key, dir, fmt.Sprintf("signs with %s (%s), a relay the directory trusts", path, signing.KeyID(keyfile.Public(key))), nil
	case o.dev && o.directoryFile == "":
		return key, dir.WithRelay(chatRelayName, line), fmt.Sprintf("signs with %s, enrolled as relay %q in the built-in directory", path, chatRelayName), nil
	default:
		return key, dir, fmt.Sprintf("WARNING: chat decisions will be refused: the directory does not trust this chat server's key; add under \"relays\": "+
			`{"name": "chatops", "keys": ["%s"]}`, line), nil
	}
}

// signatureNote says what the directory accepts, for the banner.
func signatureNote(dir *directory.Directory) string {
	window, _ := dir.Window()
	if dir.AllowUnsigned {
		return fmt.Sprintf("unsigned decisions and requests ACCEPTED (allowUnsigned: the built-in example directory's default; give --directory with people's keys for real use); signed ones verified (±%s)", window)
	}
	return fmt.Sprintf("decisions and requesters must be signed with keys the directory registers (±%s)", window)
}
