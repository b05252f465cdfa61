package localenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A program started with restarts that dies on its own (as kwok v0.8.0 can,
// at start) runs again, its log says so, and a stop ends it for good.
func TestRestartingProcessStartsAgainUntilStopped(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran-once")
	// The first run dies; the next one stays up.
	script := `if [ -e "$0" ]; then exec sleep 300; fi; : >"$0"; exit 3`
	p, err := startRestarting(2, filepath.Join(dir, "logs"), "bash", "-c", script, marker)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		log, _ := os.ReadFile(p.logPath)
		if strings.Contains(string(log), "ended on its own (exit status 3); starting it again") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart after the first run died; log:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.exited(); err != nil {
		t.Fatalf("the restarted program is not running: %v", err)
	}
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	p.stop()
	if p.exited() == nil {
		t.Fatal("still running after stop")
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Errorf("process %d outlived stop", pid)
	}
}

// Without restarts (every other program), a program that dies stays dead and
// says how it ended.
func TestManagedProcessWithoutRestartsReportsItsExit(t *testing.T) {
	p, err := startManaged(filepath.Join(t.TempDir(), "logs"), "bash", "-c", "exit 4")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("not ended")
	}
	if err := p.exited(); err == nil || !strings.Contains(err.Error(), "exit status 4") {
		t.Errorf("exited() = %v, want exit status 4", err)
	}
}
