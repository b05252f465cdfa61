package ansiblerun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/infraflow/infraflow/internal/playbook"
)

// SecretRoots is the worker's allow-list of where secrets may come from:
// files at or below Paths, and the environment variables named in Env.
// Workflow input is untrusted, so without it anyone who may start a workflow
// could make the worker read any file or variable it can see and ship it to
// a host.
type SecretRoots struct {
	Paths []string `json:"paths,omitempty"`
	Env   []string `json:"env,omitempty"`
}

// String describes the roots for error messages.
func (r SecretRoots) String() string {
	files, env := "none", "none"
	if len(r.Paths) > 0 {
		files = strings.Join(r.Paths, ", ")
	}
	if len(r.Env) > 0 {
		env = strings.Join(r.Env, ", ")
	}
	return fmt.Sprintf("files under: %s; environment variables: %s", files, env)
}

// Read returns the secret a reference points to, if the roots allow it.
// Errors are InputErrors naming field.
func (r SecretRoots) Read(field string, ref playbook.SecretRef) (string, error) {
	refuse := func(problem, fix string) error {
		if fix == "" {
			fix = "the worker reads secrets only from its secret roots (" + r.String() + "); set them with --secret-root and --secret-env"
		}
		return &InputError{Field: field, Problem: problem, Fix: fix}
	}
	switch {
	case (ref.File == "") == (ref.Env == ""):
		return "", refuse("needs exactly one of file or env", `refer to the secret, e.g. {"file": "/run/secrets/token"} or {"env": "APP_TOKEN"}`)
	case ref.Env != "":
		if !slices.Contains(r.Env, ref.Env) {
			return "", refuse(fmt.Sprintf("environment variable %s is not one the worker may read secrets from", ref.Env), "")
		}
		v, ok := os.LookupEnv(ref.Env)
		if !ok {
			return "", refuse(fmt.Sprintf("the worker has no environment variable %s", ref.Env), "set it in the worker's environment")
		}
		return v, nil
	}
	path, err := r.AllowedFile(ref.File)
	if err != nil {
		return "", refuse(err.Error(), "")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", refuse(fmt.Sprintf("reading secret file on the worker: %v", err), "")
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// AllowedFile resolves file (absolute, symlinks followed) and returns it if
// it lies at or below one of the roots.
func (r SecretRoots) AllowedFile(file string) (string, error) {
	switch {
	case strings.ContainsRune(file, 0):
		return "", fmt.Errorf("%q contains a NUL byte", file)
	case !filepath.IsAbs(file):
		return "", fmt.Errorf("%q is a relative path; give the absolute path of a file under a secret root", file)
	case slices.Contains(strings.Split(filepath.ToSlash(file), "/"), ".."):
		return "", fmt.Errorf("%q contains \"..\"", file)
	}
	path, err := filepath.EvalSymlinks(file)
	if err != nil {
		return "", fmt.Errorf("%s does not exist on the worker", file)
	}
	for _, root := range r.Paths {
		if resolved, err := filepath.EvalSymlinks(root); err == nil && within(resolved, path) {
			return path, nil
		}
	}
	if path != file {
		return "", fmt.Errorf("%s leads to %s, which is outside the worker's secret roots", file, path)
	}
	return "", fmt.Errorf("%s is outside the worker's secret roots", file)
}

// Secrets are resolved secret values, kept on the worker for one run.
type Secrets struct {
	Vars          map[string]string
	VaultPassword string
}

// ResolveSecrets reads every reference the roots allow; errors name the
// input field.
func (r SecretRoots) ResolveSecrets(vars map[string]playbook.SecretRef, vault *playbook.SecretRef) (Secrets, error) {
	s := Secrets{Vars: map[string]string{}}
	for _, name := range sortedKeys(vars) {
		v, err := r.Read("secrets."+name, vars[name])
		if err != nil {
			return s, err
		}
		s.Vars[name] = v
	}
	if vault != nil {
		v, err := r.Read("vaultPassword", *vault)
		if err != nil {
			return s, err
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
