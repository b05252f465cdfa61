package activities

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/pulumistack"
	"github.com/infraflow/infraflow/internal/testtier"
	"github.com/infraflow/infraflow/internal/toolchain"
)

// A tool that does not answer in time is missing but slow, so CheckTool tries
// it again before reporting it; one that answers, or is absent, is not slow.
func TestCheckCommandTellsSlowFromMissing(t *testing.T) {
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 200 * time.Millisecond
	version := regexp.MustCompile(`v(\d+\.\d+)`)
	cases := []struct {
		tool       toolchain.Tool
		wantStatus string
		wantSlow   bool
	}{
		{toolchain.Tool{Name: "slow", Command: "sleep", Args: []string{"5"}, VersionPattern: version}, toolchain.ToolMissing, true},
		{toolchain.Tool{Name: "fast", Command: "echo", Args: []string{"v1.2"}, VersionPattern: version}, toolchain.ToolOK, false},
		{toolchain.Tool{Name: "absent", Command: "no-such-tool-infraflow", VersionPattern: version}, toolchain.ToolMissing, false},
		{toolchain.Tool{Name: "unhealthy", Command: "echo", Args: []string{"v1.2"}, VersionPattern: version, Health: []string{"sleep", "5"}}, toolchain.ToolMissing, true},
	}
	for _, c := range cases {
		status, slow := checkCommand(context.Background(), c.tool)
		if status.Status != c.wantStatus || slow != c.wantSlow {
			t.Errorf("%s: status %q slow %v (%s), want %q slow %v", c.tool.Name, status.Status, slow, status.Detail, c.wantStatus, c.wantSlow)
		}
	}
}

// ansible-lint takes its project cache's lock before it reads its arguments,
// so a lint run of the same project made `ansible-lint --version` wait, and
// PlatformCheck report it missing (make soak, beside make test's lint). The
// catalog's probe must answer while another ansible-lint holds the lock.
func TestAnsibleLintProbeAnswersWhileALintHoldsItsLock(t *testing.T) {
	testtier.RealTools(t, "ansible-lint")
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 15 * time.Second
	// Where this ansible-lint keeps the lock for the project it is run in,
	// asked of its own Python modules.
	out, err := exec.Command("/usr/bin/python3", "-c", `from ansiblelint.file_utils import guess_project_dir
from ansible_compat.prerun import get_cache_dir
print(get_cache_dir(guess_project_dir(None)))`).CombinedOutput()
	if err != nil {
		t.Fatalf("finding ansible-lint's cache dir: %v\n%s", err, out)
	}
	cacheDir := strings.TrimSpace(string(out))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Another lint run holds the lock (it waits its turn if one really runs).
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()

	i := slices.IndexFunc(toolchain.Catalog(), func(c toolchain.Tool) bool { return c.Name == "ansible-lint" })
	if i < 0 {
		t.Fatal("ansible-lint is not in the catalog")
	}
	tool := toolchain.Catalog()[i]
	status, slow := checkCommand(context.Background(), tool)
	if status.Status != toolchain.ToolOK || slow {
		t.Errorf("ansible-lint with its lock held elsewhere: %s (slow %v): %s", status.Status, slow, status.Detail)
	}
}

// The stacks' backend is a row of the report: ok with its kind and stack
// count when it answers, missing with the fix when it does not, its password
// never shown.
func TestPulumiBackendRowSaysWhereStacksLiveAndWhetherItAnswers(t *testing.T) {
	stateDir := t.TempDir()
	stack := filepath.Join(stateDir, "state", ".pulumi", "stacks", "infraflow-local")
	if err := os.MkdirAll(stack, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev.json", "dev.json.bak", "dev.json.attrs", "web.json"} {
		if err := os.WriteFile(filepath.Join(stack, name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := &Activities{Pulumi: pulumistack.Env{StateDir: stateDir}}
	row := a.checkPulumiBackend(context.Background())
	if row.Status != toolchain.ToolOK || row.Version != "file" || row.Detail != "file://"+filepath.Join(stateDir, "state")+": 2 stacks" {
		t.Errorf("file backend row = %+v, want ok, file, 2 stacks", row)
	}

	// A PostgreSQL nobody listens for.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	a.Pulumi.Backend = fmt.Sprintf("postgres://infraflow:hunter2@127.0.0.1:%d/pulumi?sslmode=disable", port)
	row = a.checkPulumiBackend(context.Background())
	if row.Status != toolchain.ToolMissing || !strings.Contains(row.Fix, "--pulumi-backend") || !strings.Contains(row.Detail, "connect") {
		t.Errorf("unreachable backend row = %+v, want missing, saying why and how to fix it", row)
	}
	if strings.Contains(fmt.Sprint(row), "hunter2") {
		t.Errorf("the row shows the backend's password: %+v", row)
	}
}
