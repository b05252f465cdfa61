// Package ansiblerun runs ansible-playbook through go-ansible and turns its
// event stream into per-host results: what changed, what failed, which hosts
// were unreachable, and which paths a check run would touch.
package ansiblerun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/infraflow/infraflow/internal/playbook"
)

// WriteInventory writes hosts as an Ansible YAML inventory (in its JSON form,
// which the yaml inventory plugin reads) at path, and the host keys it knows
// into a known_hosts file beside it.
func WriteInventory(path string, hosts []playbook.Host) error {
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
