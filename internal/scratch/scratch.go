// Package scratch gives each worker process a temporary directory of its own
// under its data directory, and removes those of worker processes that died.
// A SIGKILLed worker cannot clean up: the Pulumi workspaces, plan files and
// Ansible inventories (with their host keys) it had open stayed in /tmp for
// good, one set per kill.
package scratch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/infraflow/infraflow/internal/procs"
)

// Claim removes the directories under root of processes that no longer run,
// then makes this process's own, named by its PID and start time so that a
// reused PID is not mistaken for its predecessor. Several workers may share
// root: a directory whose process still runs is left alone. It returns the
// new directory and the ones removed.
func Claim(root string) (dir string, removed []string, err error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil, fmt.Errorf("scratch directory %s: %w", root, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", nil, fmt.Errorf("scratch directory %s: %w", root, err)
	}
	for _, e := range entries {
		pid, started, ok := owner(e.Name())
		if !ok || procs.StillRunning(pid, started) {
			continue
		}
		stale := filepath.Join(root, e.Name())
		if err := os.RemoveAll(stale); err != nil {
			return "", removed, fmt.Errorf("removing %s, left by a worker that died: %w", stale, err)
		}
		removed = append(removed, stale)
	}
	self, ok := procs.Get(os.Getpid())
	if !ok {
		return "", removed, fmt.Errorf("reading this process's start time from /proc")
	}
	dir, err = os.MkdirTemp(root, fmt.Sprintf("pid-%d-%d-", self.PID, self.StartTicks))
	if err != nil {
		return "", removed, fmt.Errorf("scratch directory under %s: %w", root, err)
	}
	return dir, removed, nil
}

// owner reads the process a directory belongs to: pid-<PID>-<start ticks>-<random>.
func owner(name string) (pid int, started uint64, ok bool) {
	parts := strings.SplitN(name, "-", 4)
	if len(parts) != 4 || parts[0] != "pid" {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, 0, false
	}
	started, err = strconv.ParseUint(parts[2], 10, 64)
	return pid, started, err == nil
}
