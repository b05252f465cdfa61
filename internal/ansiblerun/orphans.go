package ansiblerun

import (
	"path"
	"strings"
	"syscall"

	"github.com/infraflow/infraflow/internal/procs"
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
	var killed []int
	for _, p := range procs.List() {
		if !isInfraflowAnsible(p.Args) || p.PGID == p.PID || procs.Running(p.PGID) {
			continue // not ours, a leader, or the group's ansible-playbook still runs
		}
		if syscall.Kill(p.PID, syscall.SIGKILL) == nil {
			killed = append(killed, p.PID)
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
