package scratch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/infraflow/infraflow/internal/procs"
)

// A worker's directory outlives it only until the next worker claims one:
// the dead process's is removed, a running process's is kept, whoever made
// it, and so is anything that is not a worker's.
func TestClaimRemovesOnlyTheDirectoriesOfProcessesThatDied(t *testing.T) {
	root := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	running, ok := procs.Get(sleeper.Process.Pid)
	if !ok {
		t.Fatal("the sleeper is not in /proc")
	}
	dirs := map[string]string{
		"dead":      fmt.Sprintf("pid-%d-1-abc", dead.ProcessState.Pid()),
		"running":   fmt.Sprintf("pid-%d-%d-abc", running.PID, running.StartTicks),
		"reused":    fmt.Sprintf("pid-%d-%d-abc", running.PID, running.StartTicks+1), // its PID, an earlier process
		"not-ours":  "notes",
		"malformed": "pid-x-1-abc",
	}
	for _, name := range dirs {
		if err := os.MkdirAll(filepath.Join(root, name, "infraflow-pulumi-1"), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	dir, removed, err := Claim(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, dirs["dead"]), filepath.Join(root, dirs["reused"])}
	slices.Sort(want)
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, kept := range []string{"running", "not-ours", "malformed"} {
		if _, err := os.Stat(filepath.Join(root, dirs[kept])); err != nil {
			t.Errorf("%s directory: %v, want kept", kept, err)
		}
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() || filepath.Dir(dir) != root {
		t.Fatalf("claimed %s (%v), want a new directory under %s", dir, err, root)
	}

	// The claimed directory is this process's: a second claim keeps it.
	if _, removed, err := Claim(root); err != nil || slices.Contains(removed, dir) {
		t.Errorf("second claim removed %v (%v); want this process's directory kept", removed, err)
	}
}
