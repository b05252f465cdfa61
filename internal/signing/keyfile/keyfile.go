// Package keyfile reads and writes the Ed25519 key files people and the chat
// relay sign with (OpenSSH private key format, as `ssh-keygen -t ed25519`
// writes; PKCS#8 PEM is read too).
package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/infraflow/infraflow/internal/signing"
)

// Env names the key file when --key is not given.
const Env = "INFRAFLOW_SIGNING_KEY"

// DefaultPath is where `starter keys generate` writes a person's key:
// $XDG_CONFIG_HOME/infraflow/id_ed25519 (~/.config/infraflow/id_ed25519).
func DefaultPath() string {
	if p := os.Getenv(Env); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join(".infraflow", "id_ed25519")
	}
	return filepath.Join(dir, "infraflow", "id_ed25519")
}

// Load reads an unencrypted Ed25519 private key.
func Load(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w (create one with `starter keys generate --name <you>`, or pass --key / $%s)", err, Env)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("signing key %s is passphrase-protected, which infraflow cannot read: make an unencrypted key for signing with `starter keys generate`", path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	default:
		return nil, fmt.Errorf("signing key %s is a %T; infraflow signs with Ed25519 keys (ssh-keygen -t ed25519, or starter keys generate)", path, raw)
	}
}

// Generate writes a new key pair: path (0600, OpenSSH format) and path.pub
// (the OpenSSH public key line). It refuses to overwrite an existing key.
func Generate(path, comment string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s already exists; remove it first or choose another path", path)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", []byte(signing.AuthorizedKey(pub, comment)+"\n"), 0o644); err != nil {
		return nil, err
	}
	return priv, nil
}

// LoadOrGenerate loads path, creating the key first when it is missing
// (the chat relay's key on the local platform).
func LoadOrGenerate(path, comment string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Generate(path, comment)
	}
	return Load(path)
}

// Public is the key's public half.
func Public(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
