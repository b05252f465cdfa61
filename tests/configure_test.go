package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/workflows"
)

// configureOutcome waits for a ConfigureHosts run and returns its result and
// status; a failure reads "FAILED <type>: <message>", and a
// ConfigurationFailed failure's details carry the result.
func (p *platform) configureOutcome(t *testing.T, id string) (workflows.ConfigureResult, string) {
	t.Helper()
	out, _ := p.temporal("workflow", "result", "--workflow-id", id, "-o", "json")
	var res struct {
		Status string                    `json:"status"`
		Result workflows.ConfigureResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("workflow result %s: %v\n%s", id, err, out)
	}
	if res.Status != "FAILED" {
		return res.Result, res.Status
	}
	var history struct {
		Events []struct {
			Failed *struct {
				Failure struct {
					Message                string `json:"message"`
					ApplicationFailureInfo struct {
						Type    string `json:"type"`
						Details struct {
							Payloads []struct {
								Data []byte `json:"data"`
							} `json:"payloads"`
						} `json:"details"`
					} `json:"applicationFailureInfo"`
				} `json:"failure"`
			} `json:"workflowExecutionFailedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")), &history); err != nil {
		t.Fatal(err)
	}
	for _, e := range history.Events {
		if e.Failed == nil {
			continue
		}
		f := e.Failed.Failure
		if d := f.ApplicationFailureInfo.Details.Payloads; len(d) == 1 {
			_ = json.Unmarshal(d[0].Data, &res.Result)
		}
		return res.Result, "FAILED " + f.ApplicationFailureInfo.Type + ": " + f.Message
	}
	t.Fatalf("%s failed but its history has no failure event", id)
	return res.Result, ""
}

// decodedHistory is a workflow's history as `temporal workflow show -o json`
// prints it, followed by every payload decoded (the CLI prints them base64).
func (p *platform) decodedHistory(t *testing.T, id string) string {
	t.Helper()
	raw := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json")
	var b strings.Builder
	b.WriteString(raw)
	for _, m := range regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`).FindAllStringSubmatch(raw, -1) {
		if data, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			b.WriteString("\n")
			b.Write(data)
		}
	}
	return b.String()
}

func (p *platform) configure(t *testing.T, id, input string) (workflows.ConfigureResult, string) {
	t.Helper()
	p.mustTemporal("workflow", "start", "--type", "ConfigureHosts", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", input)
	return p.configureOutcome(t, id)
}

// appAnswers asks the app on a host for its greeting.
func appAnswers(t *testing.T, h sshHost) (string, bool) {
	t.Helper()
	code, body := httpGet(t, fmt.Sprintf("http://%s:%d/", h.Address, int(h.AppPort)))
	var answer struct{ Host, Message string }
	_ = json.Unmarshal([]byte(body), &answer)
	return answer.Message, code == 200 && answer.Host == h.Name
}

// stopSSHD stops a local host's sshd (the machine is "down"); startSSHD
// brings it back with the same keys and port.
func stopSSHD(t *testing.T, h sshHost) {
	t.Helper()
	dir := filepath.Dir(h.PrivateKeyPath)
	data, err := os.ReadFile(filepath.Join(dir, "sshd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	// A machine that goes down takes its open sessions along (ssh's
	// ControlPersist would otherwise keep reaching it): the listener's
	// descendants go first, then the listener.
	for _, session := range descendants(pid) {
		_ = syscall.Kill(session, syscall.SIGKILL)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

func descendants(pid int) []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	var all []int
	for _, field := range strings.Fields(string(out)) {
		child, err := strconv.Atoi(field)
		if err == nil {
			all = append(all, descendants(child)...)
			all = append(all, child)
		}
	}
	return all
}

func startSSHD(t *testing.T, h sshHost) {
	t.Helper()
	dir := filepath.Dir(h.PrivateKeyPath)
	if out, err := exec.Command("/usr/sbin/sshd", "-f", filepath.Join(dir, "sshd_config"), "-E", filepath.Join(dir, "sshd.log")).CombinedOutput(); err != nil {
		t.Fatalf("restarting sshd of %s: %v %s", h.Name, err, out)
	}
}

// The configuration story on two local hosts, from the temporal CLI:
// provisioning with a configuration step, check mode, idempotency, secrets,
// and a destroy that takes the hosts' processes along. The failure modes are
// in testConfigureFailuresOnLocalHosts, bad input in
// testConfigureRefusesHostileInput: each runs beside the others.
func testConfigureStackHostsFromTemporalCLI(t *testing.T, p *platform) {
	const token = "tok-e2e-5b1f0c9d7a3e4f21"
	// --dev reads secrets from <data-dir>/secrets only.
	secretFile := filepath.Join(p.dataDir, "secrets", "app-token")
	if err := os.WriteFile(secretFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	provisionID := workflows.ProvisionWorkflowID("local", "cfg")
	res, status, err := p.provision(t, "cfg", fmt.Sprintf(`{"program": "local", "stack": "cfg", "requester": "dave",
		"config": {"namespace": "cfg", "image": "nginx:1.27", "replicas": 1, "hosts": 2},
		"configure": {"playbook": "site.yml", "extraVars": {"app_message": "configured by infraflow"},
			"secrets": {"app_api_token": {"file": %q}}}}`, secretFile))
	if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded || res.Configuration == nil {
		t.Fatalf("provision with configuration: %s %+v %v", status, res, err)
	}
	cfg := res.Configuration
	if cfg.Status != workflows.ConfigureSucceeded || len(cfg.Planned) != 2 || len(cfg.Hosts) != 2 {
		t.Fatalf("configuration = %+v", cfg)
	}
	for i, h := range cfg.Hosts {
		planned := cfg.Planned[i]
		// The app's config file holds the secret: its task runs with no_log,
		// which hides its path too.
		if planned.Status != "changed" || !slices.Contains(planned.ChangedPaths, "/etc/infraflow/host.yml") ||
			!slices.Contains(planned.ChangedTasks, "app : App configuration is current") {
			t.Errorf("check mode for %s planned %+v, want the identity file and the app's configuration among the changes", planned.Host, planned)
		}
		if h.Status != "changed" || h.Attempts != 1 || len(h.NotIdempotent) != 0 || !h.Verified {
			t.Errorf("host %+v, want changed in one attempt, idempotent, verified", h)
		}
	}
	hosts := hostsOf(t, res.Outputs)
	for _, h := range hosts {
		if msg, ok := appAnswers(t, h); !ok || msg != "configured by infraflow" {
			t.Errorf("app on %s answered %q", h.Name, msg)
		}
		if code, _ := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/admin", int(h.AppPort))); code != 401 {
			t.Errorf("app on %s let /admin in without the token: %d", h.Name, code)
		}
		req := exec.Command("curl", "-fsS", "-H", "Authorization: Bearer "+token, fmt.Sprintf("http://127.0.0.1:%d/admin", int(h.AppPort)))
		if out, err := req.CombinedOutput(); err != nil {
			t.Errorf("app on %s refused the secret token: %v %s", h.Name, err, out)
		}
	}
	configureID := workflows.ConfigureWorkflowID("local", "cfg")
	for _, id := range []string{provisionID, configureID} {
		if history := p.decodedHistory(t, id); strings.Contains(history, token) {
			t.Errorf("the history of %s contains the secret", id)
		} else if !strings.Contains(history, secretFile) && id == configureID {
			t.Errorf("the history of %s lacks the secret's reference (is this the right history?)", id)
		}
	}
	if strings.Contains(p.log.String(), token) {
		t.Error("the worker log contains the secret")
	}

	stack := `"inventory": {"stack": {"program": "local", "stack": "cfg"}}`
	t.Run("check only on configured hosts plans nothing", func(t *testing.T) {
		res, status := p.configure(t, "cfg-check", `{"playbook": "site.yml", "checkOnly": true, `+stack+`,
			"extraVars": {"app_message": "configured by infraflow"}, "secrets": {"app_api_token": {"file": "`+secretFile+`"}}}`)
		if status != "COMPLETED" || res.Status != workflows.ConfigureChecked || len(res.Planned) != 2 {
			t.Fatalf("%s %+v", status, res)
		}
		for _, h := range res.Planned {
			if h.Status != "ok" {
				t.Errorf("check mode on configured %s plans %v", h.Host, h.ChangedTasks)
			}
		}
	})

	t.Run("destroying the stack stops its hosts and their apps", func(t *testing.T) {
		if _, stderr, err := p.starter("destroy", "--stack", "cfg", "--wait"); err != nil {
			t.Fatalf("starter destroy: %v\n%s", err, stderr)
		}
		for _, h := range hosts {
			if out, _ := exec.Command("pgrep", "-af", filepath.Dir(h.PrivateKeyPath)+"/").Output(); len(out) > 0 {
				t.Errorf("processes of destroyed host %s still run:\n%s", h.Name, out)
			}
		}
	})
}

// How ConfigureHosts fails, on two freshly provisioned hosts: an unreachable
// host is retried until it is back, one that stays down is reported, and a
// task that changes on every run is named.
func testConfigureFailuresOnLocalHosts(t *testing.T, p *platform) {
	res, status, err := p.provision(t, "cfgfail", `{"program": "local", "stack": "cfgfail", "requester": "dave",
		"config": {"namespace": "cfgfail", "image": "nginx:1.27", "replicas": 1, "hosts": 2}}`)
	if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provision: %s %+v %v", status, res, err)
	}
	hosts := hostsOf(t, res.Outputs)
	stack := `"inventory": {"stack": {"program": "local", "stack": "cfgfail"}}`

	t.Run("a limit naming a host the stack does not have is bad input", func(t *testing.T) {
		_, status := p.configure(t, "cfgfail-limit", `{"playbook": "site.yml", `+stack+`, "limit": ["cfgfail-web-host-9"]}`)
		if !strings.HasPrefix(status, "FAILED "+workflows.ErrTypeInvalidInput) || !strings.Contains(status, "limit[0]") {
			t.Errorf("%s, want InvalidInput naming limit[0]", status)
		}
		if strings.Contains(p.mustTemporal("workflow", "show", "--workflow-id", "cfgfail-limit", "-o", "json"), "RunPlaybook") {
			t.Error("a playbook ran despite bad input")
		}
	})

	t.Run("an unreachable host is retried and configured when it is back", func(t *testing.T) {
		down := hosts[1]
		stopSSHD(t, down)
		id := "cfg-unreachable"
		p.mustTemporal("workflow", "start", "--type", "ConfigureHosts", "--task-queue", p.taskQueue, "--workflow-id", id, "--input",
			`{"playbook": "marker.yml", `+stack+`, "extraVars": {"marker_message": "second round"}, "retry": {"attempts": 5, "interval": "5s"}}`)
		deadline := time.Now().Add(4 * time.Minute)
		for {
			if pr, ok := p.configureProgress(id); ok && strings.HasPrefix(pr.Phase, "waiting") && len(pr.Hosts) == 2 {
				t.Logf("first attempt done: %s", pr.Phase)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first attempt never finished")
			}
			time.Sleep(200 * time.Millisecond)
		}
		startSSHD(t, down)
		res, status := p.configureOutcome(t, id)
		if status != "COMPLETED" || res.Status != workflows.ConfigureSucceeded {
			t.Fatalf("%s %+v", status, res)
		}
		for _, h := range res.Hosts {
			want := []string{"changed"}
			if h.Host == down.Name {
				want = []string{"unreachable", "changed"}
			}
			if !slices.Equal(h.History, want) || !h.Verified {
				t.Errorf("%s: history %v verified %v, want %v", h.Host, h.History, h.Verified, want)
			}
		}
		for _, h := range hosts {
			if marker, err := os.ReadFile(filepath.Join(h.Root, "infraflow-marker")); err != nil || string(marker) != "second round\n" {
				t.Errorf("marker on %s = %q %v, want the second round's message", h.Name, marker, err)
			}
		}
	})

	t.Run("a host that stays down is reported unreachable", func(t *testing.T) {
		down := hosts[0]
		stopSSHD(t, down)
		defer startSSHD(t, down)
		// A two-task playbook keeps this quick; what is checked is the report.
		playbook := "always_changed.yml"
		res, status := p.configure(t, "cfg-down", `{"playbook": "`+playbook+`", `+stack+`, "retry": {"attempts": 2, "interval": "1s"}}`)
		if !strings.HasPrefix(status, "FAILED "+workflows.ErrTypeConfigurationFailed) || res.Status != workflows.ConfigureFailed {
			t.Fatalf("%s %+v", status, res)
		}
		for _, h := range res.Hosts {
			if h.Host == down.Name && (h.Status != "unreachable" || !slices.Equal(h.History, []string{"unreachable", "unreachable"})) {
				t.Errorf("down host %+v", h)
			}
			if h.Host != down.Name && (h.Status != "changed" || !slices.Equal(h.History, []string{"changed"})) {
				t.Errorf("up host %+v", h)
			}
		}
		if !strings.Contains(res.Reason, down.Name+" (unreachable") {
			t.Errorf("reason %q does not name %s", res.Reason, down.Name)
		}
	})

	t.Run("a task that always changes is named", func(t *testing.T) {
		playbook := "always_changed.yml"
		res, status := p.configure(t, "cfg-idempotency", `{"playbook": "`+playbook+`", `+stack+`}`)
		if status != "COMPLETED" || res.Status != workflows.ConfigureNotIdempotent || !strings.Contains(res.Reason, "Always reports changed") {
			t.Fatalf("%s %+v", status, res)
		}
		for _, h := range res.Hosts {
			if !slices.Equal(h.NotIdempotent, []string{"Always reports changed"}) {
				t.Errorf("%s: not idempotent %v", h.Host, h.NotIdempotent)
			}
		}
	})

}

// configureProgress is ConfigureHosts' answer to the progress query.
type configureProgress struct {
	workflows.Progress
	Hosts []workflows.HostOutcome `json:"hosts"`
}

func (p *platform) configureProgress(id string) (configureProgress, bool) {
	var pr configureProgress
	return pr, p.query(id, "progress", &pr)
}
