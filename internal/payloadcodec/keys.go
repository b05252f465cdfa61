// Package payloadcodec encrypts Temporal payloads (workflow inputs, results,
// signals, updates, activity arguments, failure details) with AES-256-GCM
// before they leave the process, so that the Temporal server, its database and
// anyone reading a history without the keys see only ciphertext. It also serves
// Temporal's remote codec protocol, so the Web UI and the `temporal` CLI can
// show the decoded payloads to people who may see them.
package payloadcodec

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// Key is one named encryption key. The ID travels with every payload it
// encrypts, so a reader knows which key to use.
type Key struct {
	ID     string
	Secret []byte
}

// keyIDPattern keeps IDs printable and free of the separators the key file
// uses; they appear in payload metadata and error messages.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ParseKeys reads keys in infraflow's key format: one `id:base64key` per
// entry, entries separated by newlines or commas, blank lines and lines
// starting with # ignored. The FIRST key encrypts new payloads; every key
// decrypts. source names where the text came from, for error messages.
func ParseKeys(text, source string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	scanner := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for scanner.Scan() {
		line++
		trimmed := strings.TrimSpace(scanner.Text())
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		for _, entry := range strings.Split(trimmed, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			key, err := parseKey(entry)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", source, line, err)
			}
			if seen[key.ID] {
				return nil, fmt.Errorf("%s line %d: key ID %q is listed twice; every key needs its own ID", source, line, key.ID)
			}
			seen[key.ID] = true
			keys = append(keys, key)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys; want lines of id:base64key (generate one with: echo \"k1:$(head -c 32 /dev/urandom | base64)\")", source)
	}
	return keys, nil
}

func parseKey(entry string) (Key, error) {
	id, encoded, ok := strings.Cut(entry, ":")
	if !ok {
		return Key{}, errors.New("want id:base64key (the key itself is not shown here)")
	}
	id = strings.TrimSpace(id)
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("key ID %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return Key{}, fmt.Errorf("key %q is not valid standard base64: %w", id, err)
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key %q is %d bytes; AES-256 needs exactly %d (head -c 32 /dev/urandom | base64)", id, len(secret), KeySize)
	}
	return Key{ID: id, Secret: secret}, nil
}

// LoadKeyFile reads a key file (see ParseKeys for the format).
func LoadKeyFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading codec key file: %w", err)
	}
	return ParseKeys(string(data), "codec key file "+path)
}

// NewKey returns a fresh random key with the given ID.
func NewKey(id string) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("key ID %q: use 1-64 letters, digits, '.', '_' or '-'", id)
	}
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("generating key %q: %w", id, err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// FormatKeys writes keys in the key file format, first key first.
func FormatKeys(keys []Key) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%s\n", k.ID, base64.StdEncoding.EncodeToString(k.Secret))
	}
	return b.String()
}

// CreateKeyFile writes a new key file holding one fresh key, readable by its
// owner only; it refuses to overwrite an existing file (losing a key makes
// every payload it encrypted unreadable).
func CreateKeyFile(path string) ([]Key, error) {
	id := "dev-" + time.Now().UTC().Format("20060102")
	key, err := NewKey(id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of codec key file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating codec key file: %w", err)
	}
	header := "# infraflow payload encryption keys: id:base64key, one per line.\n" +
		"# The FIRST key encrypts new payloads; every key listed decrypts.\n" +
		"# To rotate, add a new key at the top and keep the old ones below.\n"
	if _, err := f.WriteString(header + FormatKeys([]Key{key})); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("writing codec key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing codec key file %s: %w", path, err)
	}
	return []Key{key}, nil
}
