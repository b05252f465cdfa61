package ansiblerun

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/playbook"
)

func wantInputError(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != field {
		t.Errorf("%s: got %v, want an InputError naming %s", what, err, field)
		return
	}
	if ie.Fix == "" {
		t.Errorf("%s: the error names no fix: %v", what, err)
	}
}

func TestResolvePlaybookStaysInsideTheDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "playbooks")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(dir, "site.yml"), filepath.Join(dir, "sub", "db.yml"), filepath.Join(outside, "evil.yml")} {
		if err := os.WriteFile(f, []byte("- hosts: all\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustLink := func(target, link string) {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	mustLink(filepath.Join(outside, "evil.yml"), "out.yml")
	mustLink("../outside/evil.yml", "relout.yml")
	mustLink(outside, "outdir")
	mustLink("site.yml", "alias.yml")
	if err := os.Mkdir(filepath.Join(dir, "roles.yml"), 0o755); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]string{
		"site.yml":    filepath.Join(dir, "site.yml"),
		"sub/db.yml":  filepath.Join(dir, "sub", "db.yml"),
		"./site.yml":  filepath.Join(dir, "site.yml"),
		"alias.yml":   filepath.Join(dir, "site.yml"),
		"sub//db.yml": filepath.Join(dir, "sub", "db.yml"),
	} {
		got, err := ResolvePlaybook(dir, name)
		if err != nil || got != want {
			t.Errorf("ResolvePlaybook(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{
		"", "../outside/evil.yml", "sub/../../outside/evil.yml", "sub/../site.yml",
		filepath.Join(outside, "evil.yml"), filepath.Join(dir, "site.yml"), "/etc/passwd", "~/evil.yml",
		"out.yml", "relout.yml", "outdir/evil.yml", "site.yml\x00../outside/evil.yml",
		"nope.yml", "roles.yml", "ansible.cfg", "site.yml/",
	} {
		got, err := ResolvePlaybook(dir, name)
		wantInputError(t, "ResolvePlaybook("+name+")", err, "playbook")
		if got != "" {
			t.Errorf("ResolvePlaybook(%q) returned a path %q with its error", name, got)
		}
	}
	var ie *InputError
	if _, err := ResolvePlaybook(dir, "nope.yml"); !errors.As(err, &ie) || !strings.Contains(ie.Fix, "site.yml") {
		t.Errorf("the fix should list the playbooks: %v", err)
	}

	// Histories of workflows started before playbooks were confined carry
	// resolved paths; inside the directory they map back to names.
	if got := PlaybookName(dir, filepath.Join(dir, "sub", "db.yml")); got != "sub/db.yml" {
		t.Errorf("PlaybookName of a path inside = %q", got)
	}
	if got := PlaybookName(dir, filepath.Join(outside, "evil.yml")); !filepath.IsAbs(got) {
		t.Errorf("PlaybookName of a path outside = %q, want it left absolute (and refused)", got)
	}
}

func TestSecretRootsConfineReferences(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "secrets")
	single := filepath.Join(base, "single-token")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "app"), outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, value string) {
		if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "app", "token"), "in-root")
	write(single, "single")
	write(filepath.Join(outside, "token"), "outside")
	if err := os.Symlink(filepath.Join(outside, "token"), filepath.Join(root, "leak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "app", "token"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INFRAFLOW_TEST_ALLOWED", "from-env")
	t.Setenv("INFRAFLOW_TEST_OTHER", "not-yours")
	roots := SecretRoots{Paths: []string{root, single}, Env: []string{"INFRAFLOW_TEST_ALLOWED"}}

	for ref, want := range map[playbook.SecretRef]string{
		{File: filepath.Join(root, "app", "token")}: "in-root",
		{File: filepath.Join(root, "alias")}:        "in-root",
		{File: single}:                              "single",
		{Env: "INFRAFLOW_TEST_ALLOWED"}:             "from-env",
	} {
		if got, err := roots.Read("secrets.x", ref); err != nil || got != want {
			t.Errorf("Read(%+v) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, ref := range []playbook.SecretRef{
		{File: filepath.Join(root, "..", "outside", "token")},
		{File: filepath.Join(root, "app", "..", "..", "outside", "token")},
		{File: filepath.Join(outside, "token")},
		{File: "/etc/shadow"},
		{File: filepath.Join(root, "leak")},
		{File: "secrets/app/token"},
		{File: filepath.Join(root, "missing")},
		{File: single + "-other"},
		{File: filepath.Join(root, "app", "token\x00")},
		{Env: "INFRAFLOW_TEST_OTHER"},
		{Env: "HOME"},
		{},
		{File: filepath.Join(root, "app", "token"), Env: "INFRAFLOW_TEST_ALLOWED"},
	} {
		got, err := roots.Read("secrets.x", ref)
		wantInputError(t, "Read("+ref.File+ref.Env+")", err, "secrets.x")
		if got != "" {
			t.Errorf("Read(%+v) returned %q with its error", ref, got)
		}
	}
	if _, err := (SecretRoots{}).ResolveSecrets(nil, &playbook.SecretRef{Env: "HOME"}); err == nil {
		t.Error("no roots must allow nothing")
	} else {
		wantInputError(t, "vault with no roots", err, "vaultPassword")
	}
}

func TestUntrustedHostsAndVars(t *testing.T) {
	keys := t.TempDir()
	key := filepath.Join(keys, "id_ed25519")
	if err := os.WriteFile(key, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := SecretRoots{Paths: []string{keys}}
	good := playbook.Host{Name: "web-1", Address: "10.0.0.5", Port: 22, User: "admin", PrivateKeyPath: key, Root: "/",
		HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
		Vars:    map[string]any{"ansible_become": true, "ansible_become_user": "root", "app_port": 8080.0, "tags": []any{"a", map[string]any{"k": "v"}}}}
	if err := CheckHosts("inventory.hosts", []playbook.Host{good, {Name: "db", Address: "db-1.example.com"}, {Name: "v6", Address: "::1"}}, roots); err != nil {
		t.Fatalf("good hosts refused: %v", err)
	}
	with := func(change func(*playbook.Host)) []playbook.Host {
		h := good
		h.Vars = map[string]any{}
		change(&h)
		return []playbook.Host{h}
	}
	for field, hosts := range map[string][]playbook.Host{
		"inventory.hosts[0].address":                     with(func(h *playbook.Host) { h.Address = "-oProxyCommand=touch /tmp/x" }),
		"inventory.hosts[0].address ":                    with(func(h *playbook.Host) { h.Address = "host name" }),
		"inventory.hosts[0].user":                        with(func(h *playbook.Host) { h.User = "-oProxyCommand=x" }),
		"inventory.hosts[0].hostKey":                     with(func(h *playbook.Host) { h.HostKey = good.HostKey + "\n* ssh-ed25519 AAAA" }),
		"inventory.hosts[0].root":                        with(func(h *playbook.Host) { h.Root = "{{ lookup('pipe','id') }}" }),
		"inventory.hosts[0].privateKeyPath":              with(func(h *playbook.Host) { h.PrivateKeyPath = "/etc/ssh/ssh_host_ed25519_key" }),
		"inventory.hosts[0].vars.ansible_connection":     with(func(h *playbook.Host) { h.Vars["ansible_connection"] = "local" }),
		"inventory.hosts[0].vars.ANSIBLE_CONNECTION":     with(func(h *playbook.Host) { h.Vars["ANSIBLE_CONNECTION"] = "local" }),
		"inventory.hosts[0].vars.ansible_become":         with(func(h *playbook.Host) { h.Vars["ansible_become"] = "{{ x }}" }),
		"inventory.hosts[0].vars.ansible_become_user":    with(func(h *playbook.Host) { h.Vars["ansible_become_user"] = "root; id" }),
		"inventory.hosts[0].vars.app_message":            with(func(h *playbook.Host) { h.Vars["app_message"] = "hi {{ lookup('pipe','id') }}" }),
		"inventory.hosts[0].vars.nested.deep[1]":         with(func(h *playbook.Host) { h.Vars["nested"] = map[string]any{"deep": []any{"ok", "{% raw %}"}} }),
		"inventory.hosts[0].vars.nested.{# comment #}":   with(func(h *playbook.Host) { h.Vars["nested"] = map[string]any{"{# comment #}": "v"} }),
		"inventory.hosts[0].vars.ansible_ssh_extra_args": with(func(h *playbook.Host) { h.Vars["ansible_ssh_extra_args"] = "-o ProxyCommand=x" }),
	} {
		wantInputError(t, field, CheckHosts("inventory.hosts", hosts, roots), strings.TrimSpace(field))
	}

	declared := map[string]VarSpec{"app_message": {Role: "app", Name: "app_message", Type: "str"}}
	for field, vars := range map[string]map[string]any{
		"extraVars.app_message":                {"app_message": "{{ lookup('pipe', 'id') }}"},
		"extraVars.ansible_connection":         {"ansible_connection": "local"},
		"extraVars.ansible_ssh_common_args":    {"ansible_ssh_common_args": "-o ProxyCommand=touch /tmp/x"},
		"extraVars.ansible_python_interpreter": {"ansible_python_interpreter": "/tmp/evil"},
	} {
		wantInputError(t, field, CheckVars("extraVars", vars, declared), field)
	}
	if err := CheckVars("extraVars", map[string]any{"app_message": "50% off {braces} are fine", "ansible_become": true}, declared); err != nil {
		t.Errorf("plain values refused: %v", err)
	}

	hosts := []playbook.Host{{Name: "web-1"}, {Name: "web-2"}}
	if err := CheckLimit("limit", []string{"web-2"}, hosts); err != nil {
		t.Errorf("limit to a known host refused: %v", err)
	}
	for _, limit := range []string{"@/etc/passwd", "web-*", "all", "web-3"} {
		wantInputError(t, "limit "+limit, CheckLimit("limit", []string{"web-1", limit}, hosts), "limit[1]")
	}
}
