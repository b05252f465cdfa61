package ansiblerun

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/infraflow/infraflow/internal/playbook"
)

// Workflow input is untrusted, and Ansible runs on the worker: anything that
// decides how Ansible connects, or that Ansible templates, can run commands
// there. A value like "{{ lookup('pipe', 'id') }}" in an extra var or a host
// variable is evaluated on the controller (the worker) when a task uses it;
// ansible_connection=local or an ansible_ssh_common_args ProxyCommand runs
// tasks or programs on the worker; an address starting with "-" becomes an
// ssh option. The checks below refuse those shapes as bad input.

// connectionVars are the ansible_* variables input may set: privilege
// escalation on the target host. The rest (ansible_connection,
// ansible_ssh_common_args, ansible_python_interpreter, ...) shape what runs
// where, which only the worker decides.
var connectionVars = map[string]string{
	"ansible_become":      "bool",
	"ansible_become_user": "str",
}

var (
	userName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	dnsName     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)
	sshHostKey  = regexp.MustCompile(`^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,2}$`)
	jinjaMarker = regexp.MustCompile(`\{\{|\{%|\{#`)
)

// CheckHosts checks hosts before they go into an inventory: addresses, users
// and host keys have their plain shapes, key files lie under keyRoots, and
// variables follow the rules of CheckVars.
func CheckHosts(field string, hosts []playbook.Host, keyRoots SecretRoots) error {
	for i, h := range hosts {
		f := fmt.Sprintf("%s[%d]", field, i)
		bad := func(sub, problem, fix string) error {
			return &InputError{Field: f + "." + sub, Problem: problem, Fix: fix}
		}
		switch {
		case !playbook.ValidName(h.Name):
			return bad("name", fmt.Sprintf("%q is not a host name", h.Name), "use letters, digits, '.', '_' and '-'")
		case net.ParseIP(h.Address) == nil && !dnsName.MatchString(h.Address):
			return bad("address", fmt.Sprintf("%q is not an IP address or DNS name", h.Address), `e.g. "10.0.0.5" or "web-1.example.com"`)
		case h.User != "" && !userName.MatchString(h.User):
			return bad("user", fmt.Sprintf("%q is not a user name", h.User), "use letters, digits, '_', '.' and '-', starting with a letter or '_'")
		case h.HostKey != "" && !sshHostKey.MatchString(strings.TrimSpace(h.HostKey)):
			return bad("hostKey", "is not one OpenSSH public key", `give the host's key as "ssh-ed25519 AAAA..." (one line, no comment)`)
		case h.Root != "" && (!filepath.IsAbs(h.Root) || jinjaMarker.MatchString(h.Root)):
			return bad("root", fmt.Sprintf("%q is not an absolute path", h.Root), `leave it out for "/"`)
		}
		if h.PrivateKeyPath != "" {
			if _, err := keyRoots.AllowedFile(h.PrivateKeyPath); err != nil {
				return bad("privateKeyPath", err.Error(), "the worker uses key files only under its secret roots ("+keyRoots.String()+"); set them with --secret-root")
			}
		}
		if err := CheckUntrustedVars(f+".vars", h.Vars); err != nil {
			return err
		}
	}
	return nil
}

// CheckUntrustedVars refuses ansible_* variables outside connectionVars and
// values Ansible would template.
func CheckUntrustedVars(field string, vars map[string]any) error {
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := field + "." + name
		if strings.HasPrefix(strings.ToLower(name), "ansible_") {
			typ, ok := connectionVars[name]
			if !ok {
				return &InputError{Field: f, Problem: "sets how Ansible connects or what it runs, which workflow input may not",
					Fix: "the worker decides connections; input may set only " + strings.Join(sortedKeys(connectionVars), ", ")}
			}
			if problem := typeProblem(vars[name], typ, ""); problem != "" {
				return &InputError{Field: f, Problem: problem, Fix: "use a " + typ}
			}
			if name == "ansible_become_user" && !userName.MatchString(vars[name].(string)) {
				return &InputError{Field: f, Problem: fmt.Sprintf("%q is not a user name", vars[name]), Fix: `e.g. "root"`}
			}
		}
		if err := checkNoTemplate(f, vars[name]); err != nil {
			return err
		}
	}
	return nil
}

// checkNoTemplate refuses Jinja markers anywhere in a value (keys included):
// Ansible templates variables on the worker when a task uses them.
func checkNoTemplate(field string, v any) error {
	switch x := v.(type) {
	case string:
		if jinjaMarker.MatchString(x) {
			return &InputError{Field: field, Problem: `contains a Jinja template ("{{", "{%" or "{#"), which Ansible would evaluate on the worker`,
				Fix: "pass plain data; templates belong in the playbook's roles"}
		}
	case []any:
		for i, item := range x {
			if err := checkNoTemplate(fmt.Sprintf("%s[%d]", field, i), item); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := checkNoTemplate(field+"."+k, k); err != nil {
				return err
			}
			if err := checkNoTemplate(field+"."+k, x[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckLimit refuses --limit entries that are not host names of hosts: a
// pattern such as "@file" would make ansible-playbook read a file.
func CheckLimit(field string, limit []string, hosts []playbook.Host) error {
	known := map[string]bool{}
	for _, h := range hosts {
		known[h.Name] = true
	}
	for i, name := range limit {
		if !playbook.ValidName(name) || !known[name] {
			return &InputError{Field: fmt.Sprintf("%s[%d]", field, i), Problem: fmt.Sprintf("%q is not a host of the inventory", name),
				Fix: "use hosts of the inventory: " + strings.Join(playbook.Names(hosts), ", ")}
		}
	}
	return nil
}
