package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/workflows"
)

// Anyone who may start ConfigureHosts must not be able to run commands on the
// worker or make it read files and variables outside its secret roots. Each
// input below is refused as bad input naming the field, before any playbook
// runs, and the worker is left untouched.
func testConfigureRefusesHostileInput(t *testing.T, p *platform) {

	outside := t.TempDir()
	pwned := filepath.Join(outside, "pwned")
	evil := filepath.Join(outside, "evil.yml")
	writeFile(t, evil, fmt.Sprintf(`- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.shell: touch %s
      delegate_to: localhost
`, pwned))
	climb, err := filepath.Rel(p.playbooks, evil)
	if err != nil || !strings.HasPrefix(climb, "..") {
		t.Fatalf("relative path to %s: %q %v", evil, climb, err)
	}
	if err := os.Symlink(evil, filepath.Join(p.playbooks, "linked.yml")); err != nil {
		t.Fatal(err)
	}
	stolen := filepath.Join(outside, "stolen-token")
	writeFile(t, stolen, "not-yours")
	secretRoot := filepath.Join(p.dataDir, "secrets")
	if err := os.Symlink(stolen, filepath.Join(secretRoot, "linked-token")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(secretRoot, "hostile-app-token"), "fine")

	inventory := func(host string) string {
		return `"inventory": {"hosts": [` + host + `]}`
	}
	hosts := inventory(`{"name": "web-1", "address": "127.0.0.1", "port": 1}`)
	secret := func(ref string) string {
		return `{"playbook": "site.yml", ` + hosts + `, "secrets": {"app_api_token": ` + ref + `}}`
	}
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	cases := []struct{ name, input, field string }{
		{"playbook climbing out with ..", `{"playbook": ` + quoted(climb) + `, ` + hosts + `}`, "playbook"},
		{"playbook deep ../../../", `{"playbook": ` + quoted(strings.Repeat("../", 12)+strings.TrimPrefix(evil, "/")) + `, ` + hosts + `}`, "playbook"},
		{"playbook absolute outside", `{"playbook": ` + quoted(evil) + `, ` + hosts + `}`, "playbook"},
		{"playbook system file", `{"playbook": "/etc/passwd", ` + hosts + `}`, "playbook"},
		{"playbook symlink leading out", `{"playbook": "linked.yml", ` + hosts + `}`, "playbook"},
		{"playbook with NUL byte", `{"playbook": "site.yml\u0000../evil.yml", ` + hosts + `}`, "playbook"},
		{"extra var template", `{"playbook": "site.yml", ` + hosts + `, "extraVars": {"app_message": ` + quoted("{{ lookup('pipe', 'touch "+pwned+"') }}") + `}}`, "extraVars.app_message"},
		{"extra var ssh ProxyCommand", `{"playbook": "site.yml", ` + hosts + `, "extraVars": {"ansible_ssh_common_args": ` + quoted("-o ProxyCommand=touch "+pwned) + `}}`, "extraVars.ansible_ssh_common_args"},
		{"host var local connection", `{"playbook": "site.yml", ` + inventory(`{"name": "web-1", "address": "127.0.0.1", "vars": {"ansible_connection": "local"}}`) + `}`, "inventory.hosts[0].vars.ansible_connection"},
		{"address as ssh option", `{"playbook": "site.yml", ` + inventory(`{"name": "web-1", "address": `+quoted("-oProxyCommand=touch "+pwned)+`}`) + `}`, "inventory.hosts[0].address"},
		{"host key file outside the roots", `{"playbook": "site.yml", ` + inventory(`{"name": "web-1", "address": "127.0.0.1", "privateKeyPath": "/etc/ssh/ssh_host_ed25519_key"}`) + `}`, "inventory.hosts[0].privateKeyPath"},
		{"secret climbing out with ..", secret(`{"file": ` + quoted(secretRoot+"/../../"+filepath.Base(outside)+"/stolen-token") + `}`), "secrets.app_api_token"},
		{"secret absolute elsewhere", secret(`{"file": "/etc/shadow"}`), "secrets.app_api_token"},
		{"secret symlink leading out", secret(`{"file": ` + quoted(filepath.Join(secretRoot, "linked-token")) + `}`), "secrets.app_api_token"},
		{"secret relative path", secret(`{"file": "secrets/hostile-app-token"}`), "secrets.app_api_token"},
		{"secret env not allowed", secret(`{"env": "HOME"}`), "secrets.app_api_token"},
		{"vault password elsewhere", `{"playbook": "site.yml", ` + hosts + `, "vaultPassword": {"file": "/etc/shadow"}}`, "vaultPassword"},
		// Mistakes rather than attacks fail the same way, before anything runs.
		{"playbook that does not exist", `{"playbook": "nope.yml", ` + hosts + `}`, "playbook"},
		{"playbook that fails its syntax check", `{"playbook": "broken.yml", ` + hosts + `}`, "playbook: fails ansible-playbook --syntax-check"},
		{"extra var of the wrong type", `{"playbook": "site.yml", ` + hosts + `, "extraVars": {"app_port": "eighty"}}`, "extraVars.app_port"},
		{"secret file that does not exist", secret(`{"file": "/nonexistent"}`), "secrets.app_api_token"},
		{"stack never provisioned", `{"playbook": "site.yml", "inventory": {"stack": {"program": "local", "stack": "ghost"}}}`, "inventory.stack"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("hostile-%d", i)
			_, status := p.configure(t, id, c.input)
			if !strings.HasPrefix(status, "FAILED "+workflows.ErrTypeInvalidInput) || !strings.Contains(status, c.field+":") {
				t.Errorf("%s: %s, want InvalidInput naming %s", c.input, status, c.field)
			}
			history := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")
			if !strings.Contains(history, "PreparePlaybook") || strings.Contains(history, "RunPlaybook") {
				t.Errorf("%s: a playbook ran despite bad input", c.input)
			}
			if strings.Contains(history, "not-yours") {
				t.Errorf("%s: the secret outside the roots reached the history", c.input)
			}
		})
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatalf("%s exists: input ran a command on the worker", pwned)
	}

	t.Run("a secret inside the roots is accepted", func(t *testing.T) {
		// The same request with an allowed reference gets past preparation: it
		// fails only at the (closed) SSH port, so the refusals above are the roots'.
		_, status := p.configure(t, "hostile-control", `{"playbook": "site.yml", `+hosts+`, "retry": {"attempts": 1},
			"secrets": {"app_api_token": {"file": `+quoted(filepath.Join(secretRoot, "hostile-app-token"))+`}}}`)
		if strings.Contains(status, workflows.ErrTypeInvalidInput) {
			t.Errorf("allowed secret refused: %s", status)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
