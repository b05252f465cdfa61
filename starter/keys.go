package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
)

// keysCommand is `starter keys generate|show`: the keys decisions and
// requests are signed with, and the directory entries that enroll them.
func (a *app) keysCommand() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Make and show the Ed25519 keys that sign decisions and requests"}
	var name, out string
	var relay bool
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Write a new key pair and print the directory entry that enrolls it",
		Example: `  starter keys generate --name alice                       # ~/.config/infraflow/id_ed25519
  starter keys generate --relay --name chatops --out .infraflow/chat-relay-key`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required: the person (or, with --relay, the relay) the key is for")
			}
			if out == "" {
				out = keyfile.DefaultPath()
			}
			key, err := keyfile.Generate(out, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s (private, 0600) and %s.pub\n", out, out)
			return printEnrollment(name, key, relay)
		},
	}
	generate.Flags().StringVar(&name, "name", "", "who the key is for, as the directory names them")
	generate.Flags().StringVar(&out, "out", "", "private key file (default $"+keyfile.Env+" or ~/.config/infraflow/id_ed25519)")
	generate.Flags().BoolVar(&relay, "relay", false, "a chat relay's key (the chat server's), enrolled under relays")

	var keyPath string
	show := &cobra.Command{
		Use:     "show",
		Short:   "Print an existing key's ID and its directory entry (works with ~/.ssh/id_ed25519 too)",
		Example: `  starter keys show --name alice --key ~/.ssh/id_ed25519`,
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required: who the key is for")
			}
			key, err := keyfile.Load(keyPathOrDefault(keyPath))
			if err != nil {
				return err
			}
			return printEnrollment(name, key, relay)
		},
	}
	show.Flags().StringVar(&name, "name", "", "who the key is for")
	show.Flags().StringVar(&keyPath, "key", "", "private key file (default $"+keyfile.Env+" or ~/.config/infraflow/id_ed25519)")
	show.Flags().BoolVar(&relay, "relay", false, "print a relays entry")
	keys.AddCommand(generate, show)
	return keys
}

func printEnrollment(name string, key ed25519.PrivateKey, relay bool) error {
	pub := keyfile.Public(key)
	line := signing.AuthorizedKey(pub, name)
	fmt.Printf("key ID: %s\n", signing.KeyID(pub))
	var entry any = map[string]any{"name": name, "keys": []string{line}}
	where := "Enroll it: add the key to " + name + "'s entry under \"people\" in the worker's directory (--directory):"
	if relay {
		where = "Enroll it: add this entry under \"relays\" in the worker's directory (--directory):"
	}
	raw, _ := json.Marshal(entry)
	fmt.Printf("%s\n  %s\n", where, raw)
	return nil
}

func keyPathOrDefault(p string) string {
	if p != "" {
		return p
	}
	return keyfile.DefaultPath()
}

// signingKey loads the key to sign with. A missing default key is not an
// error (nil key: the decision goes unsigned, which only a directory with
// allowUnsigned accepts); a missing key the user named is.
func signingKey(path string) (ed25519.PrivateKey, string, error) {
	explicit := path != "" || os.Getenv(keyfile.Env) != ""
	path = keyPathOrDefault(path)
	key, err := keyfile.Load(path)
	if err != nil && !explicit && errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil
	}
	return key, path, err
}

// signRequester adds a requesterSignature to a workflow input that names a
// requester and has none, signed for the workflow ID it will start under.
func signRequester(raw json.RawMessage, workflowID string, key ed25519.PrivateKey) (json.RawMessage, bool, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return raw, false, nil // not an object: the input check reports it
	}
	var requester string
	if r, ok := fields["requester"]; !ok || json.Unmarshal(r, &requester) != nil || requester == "" {
		return raw, false, nil
	}
	if _, ok := fields["requesterSignature"]; ok {
		return raw, false, nil
	}
	sig, err := json.Marshal(approvals.SignRequest(key, workflowID, requester, time.Now()))
	if err != nil {
		return raw, false, err
	}
	fields["requesterSignature"] = sig
	out, err := json.Marshal(fields)
	return out, true, err
}
