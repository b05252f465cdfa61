package ansiblerun

import (
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
)

// StopOrphanedForks kills what the ansible-playbook runs of a killed worker
// left behind, and returns their pids. The kernel stops the ansible-playbook a
// dying worker started (Pdeathsig), but not that process's forks: the soak
// found one blocked for 48 minutes on a pipe nobody read. They are known by
// the inventory infraflow wrote for them (a directory named as Execute names
// it) and by their process group, whose leader, the ansible-playbook, is gone.
// Forks of a run still going, on any worker of the machine, have a live leader
// and are left alone.
func StopOrphanedForks() []int {
	entries, _ := os.ReadDir("/proc")
	var killed []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !isInfraflowAnsible(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")) {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil || pgid == pid {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pgid)); err == nil {
			continue // the group's ansible-playbook still runs
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// isInfraflowAnsible says whether a command line is an ansible-playbook run
// (or one of its forks, which keep its arguments) with an inventory Execute wrote.
func isInfraflowAnsible(args []string) bool {
	playbook, ours := false, false
	for _, a := range args {
		playbook = playbook || path.Base(a) == "ansible-playbook"
		ours = ours || strings.Contains(a, "/"+workDirPrefix)
	}
	return playbook && ours
}
