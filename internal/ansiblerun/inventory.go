// Package ansiblerun runs ansible-playbook through go-ansible and turns its
// event stream into per-host results: what changed, what failed, which hosts
// were unreachable, and which paths a check run would touch.
package ansiblerun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Host is one machine to configure and how to reach it over SSH.
type Host struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port,omitempty"`
	User    string `json:"user,omitempty"`
	// PrivateKeyPath is a key file on the worker; keys never travel in input.
	PrivateKeyPath string `json:"privateKeyPath,omitempty"`
	// Root is where the host's filesystem starts for the playbooks (the local
	// stack's hosts share one computer); empty means "/".
	Root string `json:"root,omitempty"`
	// HostKey is the host's public SSH key ("ssh-ed25519 AAAA..."). When set,
	// the run trusts exactly this key for the host; otherwise the worker's
	// known_hosts decides, as for any ssh client.
	HostKey string `json:"hostKey,omitempty"`
	// Vars are host variables, e.g. app_port or ansible_become.
	Vars map[string]any `json:"vars,omitempty"`
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ValidName reports whether name can be an inventory host name.
func ValidName(name string) bool { return hostName.MatchString(name) }

// WriteInventory writes hosts as an Ansible YAML inventory (in its JSON form,
// which the yaml inventory plugin reads) at path, and the host keys it knows
// into a known_hosts file beside it.
func WriteInventory(path string, hosts []Host) error {
	knownHosts := filepath.Join(filepath.Dir(path), "known_hosts")
	var known strings.Builder
	all := map[string]any{}
	for _, h := range hosts {
		vars := map[string]any{"ansible_host": h.Address}
		if h.Port != 0 {
			vars["ansible_port"] = h.Port
		}
		if h.User != "" {
			vars["ansible_user"] = h.User
		}
		if h.PrivateKeyPath != "" {
			vars["ansible_ssh_private_key_file"] = h.PrivateKeyPath
		}
		if h.Root != "" {
			vars["infraflow_root"] = h.Root
		}
		if h.HostKey != "" {
			addr := h.Address
			if h.Port != 0 && h.Port != 22 {
				addr = fmt.Sprintf("[%s]:%d", h.Address, h.Port)
			}
			fmt.Fprintf(&known, "%s %s\n", addr, h.HostKey)
			vars["ansible_ssh_common_args"] = "-o UserKnownHostsFile=" + knownHosts + " -o StrictHostKeyChecking=yes"
		}
		for k, v := range h.Vars {
			vars[k] = v
		}
		all[h.Name] = vars
	}
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o600); err != nil {
		return err
	}
	data, err := json.MarshalIndent(map[string]any{"all": map[string]any{"hosts": all}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// Names lists the hosts' names, sorted.
func Names(hosts []Host) []string {
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	sort.Strings(names)
	return names
}
