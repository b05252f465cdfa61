package ansiblerun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/internal/testtier"
)

// sshHost is a real sshd on loopback with its own keys and root directory.
type sshHost struct {
	playbook.Host
	cmd    *exec.Cmd
	config string
}

func startHost(t *testing.T, name string) *sshHost {
	t.Helper()
	dir := t.TempDir()
	for _, key := range []string{"host_key", "id"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port, appPort := freePort(t), freePort(t)
	config := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(config, []byte(strings.Join([]string{
		fmt.Sprintf("Port %d", port), "ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "host_key"), "PidFile none",
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
		"UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp",
		// As the local stack's hosts: bash must not source the user's ~/.bashrc per command.
		"SetEnv SHLVL=1",
	}, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostKey, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(hostKey))
	h := &sshHost{Host: playbook.Host{Name: name, Address: "127.0.0.1", Port: port, User: "root", HostKey: fields[0] + " " + fields[1],
		PrivateKeyPath: filepath.Join(dir, "id"), Root: root, Vars: map[string]any{"app_port": appPort}}, config: config}
	h.start(t)
	t.Cleanup(func() {
		h.stop()
		// The app the playbook started runs until its host is torn down.
		if pid, err := os.ReadFile(filepath.Join(root, "run", "web.pid")); err == nil {
			var n int
			if _, err := fmt.Sscan(string(pid), &n); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	return h
}

func (h *sshHost) start(t *testing.T) {
	t.Helper()
	_ = os.MkdirAll("/run/sshd", 0o755)
	h.cmd = exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", h.config)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.Port)); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sshd for %s is not listening", h.Name)
}

func (h *sshHost) stop() {
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func needAnsible(t *testing.T) {
	t.Helper()
	testtier.RealTools(t, "ansible-playbook against sshd hosts")
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook is not installed: run `make tools`")
	}
}

func hostsOf(hs ...*sshHost) []playbook.Host {
	var out []playbook.Host
	for _, h := range hs {
		out = append(out, h.Host)
	}
	return out
}

func sitePlaybook(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("../../playbooks")
	path, err := ResolvePlaybook(dir, "site.yml")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func testPlaybook(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../tests/testdata/playbooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The site playbook against a real SSH host: check mode predicts without
// touching anything, apply configures and starts the app, a second apply
// changes nothing, and the verify tasks pass. The secret reaches the app but
// not the report. One host: the playbook on two, through the workflow, is
// ConfigureStackHostsFromTemporalCLI's (tests/), and every host more costs a few
// CPU-seconds in each of the five runs here.
func TestSitePlaybookOnRealHosts(t *testing.T) {
	needAnsible(t)
	a := startHost(t, "alpha")
	const token = "tok-3f9a7c1e55d04b2b"
	run := Run{Playbook: sitePlaybook(t), Hosts: hostsOf(a),
		ExtraVars: map[string]any{"app_message": "configured by the test"},
		Secrets:   Secrets{Vars: map[string]string{"app_api_token": token}}}
	ctx := context.Background()
	if err := SyntaxCheck(ctx, run.Playbook, writeInventory(t, run.Hosts)); err != nil {
		t.Fatal(err)
	}

	run.Mode = playbook.Check
	var events atomic.Int32
	run.OnEvent = func(playbook.Event) { events.Add(1) }
	check, err := Execute(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if events.Load() == 0 {
		t.Error("no events were reported during the run")
	}
	for _, h := range []*sshHost{a} {
		r, ok := check.Host(h.Name)
		if !ok || r.Status != playbook.StatusChanged || r.Changed == 0 {
			t.Fatalf("check on %s = %+v, want planned changes", h.Name, r)
		}
		for _, want := range []string{"/etc/infraflow/host.yml", "/etc/prometheus/file_sd/" + h.Name + ".json", "/opt/web/bin/app.py"} {
			if !slices.Contains(r.ChangedPaths, want) {
				t.Errorf("check on %s: planned paths %v lack %s", h.Name, r.ChangedPaths, want)
			}
		}
		if entries, _ := os.ReadDir(h.Root); len(entries) != 0 {
			t.Errorf("check mode changed %s: %d entries in its root", h.Name, len(entries))
		}
	}

	run.Mode = playbook.Apply
	applied, err := Execute(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*sshHost{a} {
		if r, _ := applied.Host(h.Name); r.Status != playbook.StatusChanged || r.Failed != 0 {
			t.Fatalf("apply on %s = %+v", h.Name, r)
		}
		status, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", h.Vars["app_port"]), "")
		var answer struct{ Host, Message string }
		_ = json.Unmarshal([]byte(body), &answer)
		if status != 200 || answer.Host != h.Name || answer.Message != "configured by the test" {
			t.Errorf("app on %s answered %d %s", h.Name, status, body)
		}
		if status, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/admin", h.Vars["app_port"]), token); status != 200 {
			t.Errorf("app on %s refused the token it was configured with: %d", h.Name, status)
		}
	}

	again, err := Execute(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again.Hosts {
		if r.Changed != 0 || r.Status != playbook.StatusOK {
			t.Errorf("second apply on %s changed %d tasks: %v", r.Host, r.Changed, r.ChangedTasks)
		}
	}

	run.Mode = playbook.Verify
	verified, err := Execute(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(verified.Hosts) != 1 || verified.Tasks == 0 || verified.Tasks >= again.Tasks {
		t.Errorf("verify ran %d tasks on %d hosts, want only the verify tasks (apply ran %d)", verified.Tasks, len(verified.Hosts), again.Tasks)
	}
	for _, r := range verified.Hosts {
		if r.Status != playbook.StatusOK {
			t.Errorf("verify on %s = %+v", r.Host, r)
		}
	}

	for _, rep := range []playbook.Report{check, applied, again, verified} {
		data, _ := json.Marshal(rep)
		if strings.Contains(string(data), token) {
			t.Errorf("the %s report contains the secret", rep.Mode)
		}
	}
}

func writeInventory(t *testing.T, hosts []playbook.Host) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inventory.json")
	if err := WriteInventory(path, hosts); err != nil {
		t.Fatal(err)
	}
	return path
}

// A host whose sshd is down is reported unreachable; the others are configured.
func TestUnreachableHostIsReported(t *testing.T) {
	needAnsible(t)
	up, down := startHost(t, "up"), startHost(t, "down")
	down.stop()
	rep, err := Execute(context.Background(), Run{Playbook: testPlaybook(t, "always_changed.yml"), Mode: playbook.Apply, Hosts: hostsOf(up, down)})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rep.Host("down"); r.Status != playbook.StatusUnreachable || r.Message == "" {
		t.Errorf("down = %+v, want unreachable with a message", r)
	}
	if r, _ := rep.Host("up"); r.Status != playbook.StatusChanged {
		t.Errorf("up = %+v, want changed", r)
	}
}

// A task that reports changed on every run is named by its second run.
func TestNonIdempotentTaskIsNamed(t *testing.T) {
	needAnsible(t)
	h := startHost(t, "solo")
	run := Run{Playbook: testPlaybook(t, "always_changed.yml"), Mode: playbook.Apply, Hosts: hostsOf(h)}
	if _, err := Execute(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	rep, err := Execute(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rep.Host("solo"); !slices.Equal(r.ChangedTasks, []string{"Always reports changed"}) {
		t.Errorf("second run changed %v, want only the always-changing task", r.ChangedTasks)
	}
}

// Cancelling the context stops ansible-playbook and its children promptly.
func TestCancelStopsAnsiblePlaybook(t *testing.T) {
	needAnsible(t)
	h := startHost(t, "slow")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := testPlaybook(t, "slow.yml")
	run := Run{Playbook: slow, Mode: playbook.Apply, Hosts: hostsOf(h), OnEvent: func(e playbook.Event) {
		if e.Task == "Long step" && e.Host == "" {
			time.AfterFunc(time.Second, cancel)
		}
	}}
	start := time.Now()
	_, err := Execute(ctx, run)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 100*time.Second {
		t.Errorf("cancelled run took %s: the sleep was not interrupted", took)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", slow).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ansible-playbook still runs after cancellation: pids %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestInputErrorsNameTheField(t *testing.T) {
	needAnsible(t)
	site := sitePlaybook(t)
	declared, err := DeclaredVars(site)
	if err != nil {
		t.Fatal(err)
	}
	if d := declared["app_port"]; d.Type != "int" || d.Role != "app" {
		t.Fatalf("app_port declared as %+v", d)
	}
	cases := []struct {
		vars  map[string]any
		field string
	}{
		{map[string]any{"app_port": "eighty"}, "extraVars.app_port"},
		{map[string]any{"app_port": 80.5}, "extraVars.app_port"},
		{map[string]any{"common_extra_dirs": []any{"/srv", 3.0}}, "extraVars.common_extra_dirs"},
		{map[string]any{"app_prot": 8080.0}, "extraVars.app_prot"},
	}
	for _, c := range cases {
		err := CheckVars("extraVars", c.vars, declared)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("CheckVars(%v) = %v, want an error naming %s", c.vars, err, c.field)
		}
	}
	if err := CheckVars("extraVars", map[string]any{"app_port": 8080.0, "common_extra_dirs": []any{"/srv"}, "ansible_become": true}, declared); err != nil {
		t.Errorf("valid vars refused: %v", err)
	}

	var ie *InputError
	if _, err := ResolvePlaybook(filepath.Dir(site), "nope.yml"); !errors.As(err, &ie) || ie.Field != "playbook" || !strings.Contains(ie.Fix, "site.yml") {
		t.Errorf("missing playbook: %v", err)
	}
	err = SyntaxCheck(context.Background(), testPlaybook(t, "broken.yml"), writeInventory(t, nil))
	if !errors.As(err, &ie) || !strings.Contains(ie.Problem, "no_such_module") {
		t.Errorf("syntax error: %v", err)
	}
}
