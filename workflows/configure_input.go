package workflows

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/stacks"
)

// ConfigureInput asks for a playbook run on a set of hosts.
type ConfigureInput struct {
	// Playbook names a playbook in the worker's playbooks directory (e.g.
	// "site.yml"); nothing outside that directory runs.
	Playbook string `json:"playbook"`
	// Inventory lists the hosts, or names a stack whose "hosts" output lists them.
	Inventory playbook.Inventory `json:"inventory"`
	// ExtraVars are variables the playbook's roles declare (meta/argument_specs.yml).
	ExtraVars map[string]any `json:"extraVars,omitempty"`
	// Secrets are variables whose values the worker reads from a file or its
	// environment, within its secret roots; only the reference is in the
	// workflow's history.
	Secrets       map[string]playbook.SecretRef `json:"secrets,omitempty"`
	VaultPassword *playbook.SecretRef           `json:"vaultPassword,omitempty"`
	// Limit restricts the run to these hosts of the inventory.
	Limit []string `json:"limit,omitempty"`
	// CheckOnly stops after check mode: a report of what would change.
	CheckOnly bool   `json:"checkOnly,omitempty"`
	Requester string `json:"requester,omitempty"`
	// RequesterSignature authenticates the requester when a change needs
	// approval (required unless the directory sets allowUnsigned).
	RequesterSignature *RequesterSignature `json:"requesterSignature,omitempty"`
	Approval           *ConfigureApproval  `json:"approval,omitempty"`
	Retry              *ConfigureRetry     `json:"retry,omitempty"`
}

// ConfigureApproval asks for approval always, or when check mode finds that
// a protected path would change ("/etc/ssh/sshd_config", "/etc/sudoers.d/*",
// or a directory and everything below it: "/etc/pam.d/").
type ConfigureApproval struct {
	ProvisionApproval
	ProtectedPaths []string `json:"protectedPaths,omitempty"`
}

// ConfigureRetry says how often hosts that failed or were unreachable are
// tried again: attempts in all (default 3), the first wait (default 10s),
// doubling after each attempt.
type ConfigureRetry struct {
	Attempts int    `json:"attempts,omitempty"`
	Interval string `json:"interval,omitempty"`
}

// Validate implements Input; what needs the worker (playbook, variables,
// stack hosts) is checked by the PreparePlaybook activity before any run.
func (in ConfigureInput) Validate() error {
	if in.Playbook == "" {
		return &FieldError{Field: "playbook", Problem: "is required", Fix: `name a playbook in the worker's playbooks directory, e.g. "site.yml"`}
	}
	if err := validateInventory("inventory", in.Inventory); err != nil {
		return err
	}
	if in.Inventory.Stack == nil {
		names := map[string]bool{}
		for _, h := range in.Inventory.Hosts {
			names[h.Name] = true
		}
		for i, name := range in.Limit {
			if !names[name] {
				return &FieldError{Field: fmt.Sprintf("limit[%d]", i), Problem: fmt.Sprintf("host %q is not in the inventory", name),
					Fix: "use hosts of inventory.hosts: " + strings.Join(playbook.Names(in.Inventory.Hosts), ", ")}
			}
		}
	}
	for name, ref := range in.Secrets {
		if _, clash := in.ExtraVars[name]; clash {
			return &FieldError{Field: "secrets." + name, Problem: "is also set in extraVars", Fix: "set a variable in one place"}
		}
		if (ref.File == "") == (ref.Env == "") {
			return &FieldError{Field: "secrets." + name, Problem: "needs exactly one of file or env",
				Fix: `refer to the secret, e.g. {"file": "/run/secrets/token"} or {"env": "APP_TOKEN"}; never put its value in the input`}
		}
	}
	if v := in.VaultPassword; v != nil && (v.File == "") == (v.Env == "") {
		return &FieldError{Field: "vaultPassword", Problem: "needs exactly one of file or env", Fix: `e.g. {"file": "/run/secrets/vault-pass"}`}
	}
	if a := in.Approval; a != nil {
		if a.Expiry != "" {
			if d, err := parseDuration(a.Expiry, 0); err != nil || d <= 0 {
				return &FieldError{Field: "approval.expiry", Problem: fmt.Sprintf("%q is not a positive duration", a.Expiry), Fix: `use Go duration syntax, e.g. "24h"`}
			}
		}
		for i, p := range a.ProtectedPaths {
			if _, err := path.Match(p, "/"); err != nil || !strings.HasPrefix(p, "/") {
				return &FieldError{Field: fmt.Sprintf("approval.protectedPaths[%d]", i), Problem: fmt.Sprintf("%q is not an absolute path or glob", p),
					Fix: `e.g. "/etc/ssh/sshd_config", "/etc/sudoers.d/*" or "/etc/pam.d/"`}
			}
		}
	}
	if r := in.Retry; r != nil {
		if r.Attempts < 0 || r.Attempts > 10 {
			return &FieldError{Field: "retry.attempts", Problem: fmt.Sprintf("%d is out of range", r.Attempts), Fix: "use 1 to 10 (attempts in all)"}
		}
		if d, err := parseDuration(r.Interval, 0); err != nil || d < 0 {
			return &FieldError{Field: "retry.interval", Problem: fmt.Sprintf("%q is not a duration", r.Interval), Fix: `use Go duration syntax, e.g. "10s"`}
		}
	}
	return nil
}

func validateInventory(field string, inv playbook.Inventory) error {
	switch {
	case inv.Stack == nil && len(inv.Hosts) == 0:
		return &FieldError{Field: field, Problem: "lists no hosts", Fix: `set hosts ([{"name": "web-1", "address": "10.0.0.5", "user": "admin"}]) or stack ({"program": "local", "stack": "dev"})`}
	case inv.Stack != nil && len(inv.Hosts) > 0:
		return &FieldError{Field: field, Problem: "has both hosts and stack", Fix: "use one of them"}
	case inv.Stack != nil:
		if _, ok := stacks.Lookup(inv.Stack.Program); !ok {
			return &FieldError{Field: field + ".stack.program", Problem: fmt.Sprintf("unknown program %q", inv.Stack.Program), Fix: "use one of: " + strings.Join(stacks.Names(), ", ")}
		}
		if !stackName.MatchString(inv.Stack.Stack) {
			return &FieldError{Field: field + ".stack.stack", Problem: fmt.Sprintf("%q is not a stack name", inv.Stack.Stack), Fix: `e.g. "dev"`}
		}
	}
	var seen []string
	for i, h := range inv.Hosts {
		f := fmt.Sprintf("%s.hosts[%d]", field, i)
		switch {
		case !playbook.ValidName(h.Name):
			return &FieldError{Field: f + ".name", Problem: fmt.Sprintf("%q is not a host name", h.Name), Fix: "use letters, digits, '.', '_' and '-'"}
		case slices.Contains(seen, h.Name):
			return &FieldError{Field: f + ".name", Problem: fmt.Sprintf("host %q is listed twice", h.Name), Fix: "give each host its own name"}
		case h.Address == "":
			return &FieldError{Field: f + ".address", Problem: "is required", Fix: "set the host's IP address or DNS name"}
		case h.Port < 0 || h.Port > 65535:
			return &FieldError{Field: f + ".port", Problem: fmt.Sprintf("%d is not a TCP port", h.Port), Fix: "use 1-65535, or leave it out for 22"}
		}
		seen = append(seen, h.Name)
	}
	return nil
}

// request is the playbook run the input asks for; hosts and mode are set per run.
func (in ConfigureInput) request() playbook.Request {
	return playbook.Request{Playbook: in.Playbook, ExtraVars: in.ExtraVars, Secrets: in.Secrets, VaultPassword: in.VaultPassword}
}

// withDefaults records the retry policy's defaults with the run.
func (in ConfigureInput) withDefaults() ConfigureInput {
	in.Retry = &ConfigureRetry{Attempts: in.attempts(), Interval: in.retryInterval()}
	return in
}

func (in ConfigureInput) attempts() int {
	if in.Retry == nil || in.Retry.Attempts == 0 {
		return 3
	}
	return in.Retry.Attempts
}

func (in ConfigureInput) retryInterval() string {
	if in.Retry == nil || in.Retry.Interval == "" {
		return "10s"
	}
	return in.Retry.Interval
}

// protected lists the planned paths that match a protected pattern.
func (a *ConfigureApproval) protected(paths []string) []string {
	if a == nil {
		return nil
	}
	var hit []string
	for _, p := range paths {
		for _, pattern := range a.ProtectedPaths {
			dir, isDir := strings.CutSuffix(pattern, "/")
			match, _ := path.Match(pattern, p)
			if match || (isDir && (p == dir || strings.HasPrefix(p, dir+"/"))) {
				hit = append(hit, p)
				break
			}
		}
	}
	return hit
}
