package ansiblerun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SecretRef says where the worker reads a secret: a file on the worker or an
// environment variable of the worker. The value itself never enters workflow
// input, history or logs.
type SecretRef struct {
	File string `json:"file,omitempty"`
	Env  string `json:"env,omitempty"`
}

// Read returns the secret's value.
func (r SecretRef) Read() (string, error) {
	switch {
	case r.File != "" && r.Env != "":
		return "", fmt.Errorf("set file or env, not both")
	case r.File != "":
		data, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("reading secret file on the worker: %w", err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok {
			return "", fmt.Errorf("the worker has no environment variable %s", r.Env)
		}
		return v, nil
	}
	return "", fmt.Errorf("set file (a path on the worker) or env (a variable of the worker)")
}

// Secrets are resolved secret values, kept on the worker for one run.
type Secrets struct {
	Vars          map[string]string
	VaultPassword string
}

// ResolveSecrets reads every reference; errors name the input field.
func ResolveSecrets(vars map[string]SecretRef, vault *SecretRef) (Secrets, error) {
	s := Secrets{Vars: map[string]string{}}
	for _, name := range sortedKeys(vars) {
		v, err := vars[name].Read()
		if err != nil {
			return s, &InputError{Field: "secrets." + name, Problem: err.Error()}
		}
		s.Vars[name] = v
	}
	if vault != nil {
		v, err := vault.Read()
		if err != nil {
			return s, &InputError{Field: "vaultPassword", Problem: err.Error()}
		}
		s.VaultPassword = v
	}
	return s, nil
}

// Redact replaces every secret value in text.
func (s Secrets) Redact(text string) string {
	for _, v := range s.Vars {
		if len(v) >= 4 {
			text = strings.ReplaceAll(text, v, "********")
		}
	}
	if len(s.VaultPassword) >= 4 {
		text = strings.ReplaceAll(text, s.VaultPassword, "********")
	}
	return text
}

// write puts the secrets in files only this user can read, inside dir:
// ansible-playbook gets them as @file extra vars and --vault-password-file,
// never on its command line or in its environment.
func (s Secrets) write(dir string) (varsFile, vaultFile string, err error) {
	if len(s.Vars) > 0 {
		data, err := json.Marshal(s.Vars)
		if err != nil {
			return "", "", err
		}
		varsFile = filepath.Join(dir, "secret-vars.json")
		if err := os.WriteFile(varsFile, data, 0o600); err != nil {
			return "", "", err
		}
	}
	if s.VaultPassword != "" {
		vaultFile = filepath.Join(dir, "vault-password")
		if err := os.WriteFile(vaultFile, []byte(s.VaultPassword+"\n"), 0o600); err != nil {
			return "", "", err
		}
	}
	return varsFile, vaultFile, nil
}
