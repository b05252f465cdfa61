package ansiblerun

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/procs"
)

// A fork whose ansible-playbook (its group's leader) was killed is stopped; a
// fork whose leader still runs is not.
func TestStopOrphanedForks(t *testing.T) {
	orphanLeader, orphan := startGroupWithFork(t)
	liveLeader, live := startGroupWithFork(t)
	if err := orphanLeader.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = orphanLeader.Wait()

	killed := StopOrphanedForks()
	if !slices.Contains(killed, orphan) {
		t.Errorf("StopOrphanedForks = %v, want the orphaned fork %d among them", killed, orphan)
	}
	if slices.Contains(killed, live) {
		t.Errorf("StopOrphanedForks killed %d, whose leader %d still runs", live, liveLeader.Process.Pid)
	}
	for deadline := time.Now().Add(5 * time.Second); procs.Running(orphan); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("orphaned fork %d still runs", orphan)
		}
	}
	if !procs.Running(live) {
		t.Errorf("fork %d of a running group was stopped", live)
	}
}

// startGroupWithFork starts a process group whose leader has one child with an
// infraflow ansible-playbook command line, as a fork of ansible-playbook has.
func startGroupWithFork(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	dir, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pidFile := dir + "/fork.pid"
	// The child's arguments after the script are its $0 and $1: they stand
	// for ansible-playbook's command line, which its forks keep.
	leader := exec.Command("sh", "-c", `sh -c 'echo $$ > "$2"; sleep 300; :' ansible-playbook --inventory=`+dir+`/inventory.json `+pidFile+` & sleep 300; :`)
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-leader.Process.Pid, syscall.SIGKILL)
		_ = leader.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(data)) != "" {
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			return leader, pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the fork never started")
		}
	}
}
