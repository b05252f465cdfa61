package procs

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestGetReadsFamilyAndCommandLine(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitForExec(t, cmd.Process.Pid)
	p, ok := Get(cmd.Process.Pid)
	if !ok || p.PPID != os.Getpid() || p.PGID != syscall.Getpgrp() || !slices.Equal(p.Args, []string{"sleep", "30"}) {
		t.Fatalf("Get(%d) = %+v %v, want sleep 30, child of %d", cmd.Process.Pid, p, ok, os.Getpid())
	}
	if !Running(cmd.Process.Pid) {
		t.Error("a sleeping child is not running")
	}
	// The child started after this test process did, and both after boot.
	self, _ := Get(os.Getpid())
	if self.StartTicks == 0 || p.StartTicks < self.StartTicks {
		t.Errorf("start ticks: child %d, this process %d; want the child's later and both after boot", p.StartTicks, self.StartTicks)
	}
	if !slices.ContainsFunc(List(), func(q Process) bool { return q.PID == cmd.Process.Pid }) {
		t.Error("List lacks the child")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if Running(cmd.Process.Pid) {
		t.Error("a reaped child still runs")
	}
}

func TestEnvironReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv("INFRAFLOW_PROCS_TEST", "marker")
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitForExec(t, cmd.Process.Pid)
	if env := Environ(cmd.Process.Pid); !slices.Contains(env, "INFRAFLOW_PROCS_TEST=marker") {
		t.Errorf("environ of %d lacks the variable it was started with: %v", cmd.Process.Pid, env)
	}
	if env := Environ(-1); env != nil {
		t.Errorf("environ of no process = %v, want nil", env)
	}
}

// waitForExec waits until pid's new program is in place: Start returns once
// exec has begun, but the kernel sets up the program's arguments and
// environment a moment later, and until then both read empty.
func waitForExec(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p, ok := Get(pid); ok && len(p.Args) > 0 {
			return
		}
	}
	t.Fatalf("process %d shows no command line 5s after it started", pid)
}
