package playbooks

import (
	"os"
	"os/exec"
	"testing"

	"github.com/infraflow/infraflow/internal/testtier"
)

// The playbooks pass ansible-lint's production profile, and the playbook
// infraflow runs passes ansible-playbook's syntax check.
func TestPlaybooksPassAnsibleLint(t *testing.T) {
	testtier.RealTools(t, "ansible-lint")
	if _, err := exec.LookPath("ansible-lint"); err != nil {
		t.Fatal("ansible-lint is not installed: run `make tools`")
	}
	cmd := exec.Command("ansible-lint", "--profile", "production", "--strict")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "ANSIBLE_NOCOLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-lint: %v\n%s", err, out)
	}
	cmd = exec.Command("ansible-playbook", "--syntax-check", "-i", "localhost,", "site.yml")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("syntax check: %v\n%s", err, out)
	}
}
