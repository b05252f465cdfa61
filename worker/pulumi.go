package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// pulumiPassphrase is the passphrase that encrypts secrets in stack state.
// Workers sharing a backend must share it, so only --dev may make one (in its
// data dir); any other worker is given it. Empty means the --dev default.
func pulumiPassphrase(o options) (string, error) {
	if p := os.Getenv("PULUMI_CONFIG_PASSPHRASE"); p != "" {
		return p, nil
	}
	if o.pulumiPassphraseFile != "" {
		data, err := os.ReadFile(o.pulumiPassphraseFile)
		if err != nil {
			return "", fmt.Errorf("--pulumi-passphrase-file: %w", err)
		}
		p := strings.TrimRight(string(data), "\r\n")
		if p == "" {
			return "", fmt.Errorf("--pulumi-passphrase-file %s is empty: write the passphrase every worker of the backend shares into it", o.pulumiPassphraseFile)
		}
		return p, nil
	}
	if o.dev {
		return "", nil
	}
	return "", errors.New("no Pulumi passphrase: give every worker of a backend the same one with --pulumi-passphrase-file FILE or PULUMI_CONFIG_PASSPHRASE (only --dev makes its own)")
}

// defaultSite names a worker's site by its machine and data dir: two
// workers of one machine with their own data dirs keep their own hosts.
func defaultSite(dataDir string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(dataDir))
	return host + "-" + hex.EncodeToString(sum[:4])
}
