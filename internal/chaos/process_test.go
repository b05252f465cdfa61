package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/procs"
)

// sleeper starts a sleep whose argument no other process on the machine has,
// so a command-line match finds only what this test started.
func sleeper(t *testing.T, marker string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "3600."+marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Until exec completes, the child's command line is still the test binary's.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if p, ok := procs.Get(cmd.Process.Pid); ok && len(p.Args) > 0 && p.Args[0] == "sleep" {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d never showed its command line", cmd.Process.Pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func killedBySIGKILL(cmd *exec.Cmd) bool {
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == syscall.SIGKILL
}

func TestProcessKillByPIDFileIsRecordedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	p := &Processes{RecordDir: t.TempDir()}
	victim := sleeper(t, strconv.FormatInt(time.Now().UnixNano()%1e9, 10))
	pidFile := filepath.Join(t.TempDir(), "web.pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", victim.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	fault := ProcessKill{Name: "gameday-p1-0", PIDFile: pidFile}
	result, err := p.Kill(ctx, fault)
	if err != nil {
		t.Fatal(err)
	}
	if len(result.Killed) != 1 || result.Killed[0].PID != victim.Process.Pid || !strings.HasPrefix(result.Killed[0].Command, "sleep 3600.") || result.AlreadyInjected {
		t.Fatalf("kill: %+v, want the sleep %d", result, victim.Process.Pid)
	}
	if !killedBySIGKILL(victim) {
		t.Error("the process did not die of SIGKILL")
	}
	retried, err := p.Kill(ctx, fault)
	if err != nil || !retried.AlreadyInjected || retried.Killed[0].PID != victim.Process.Pid {
		t.Errorf("retried kill (the process gone, its PID file stale): %+v %v, want the recorded kill reported", retried, err)
	}
	undone, err := p.UndoKill(ctx, ProcessKillRef{Name: fault.Name})
	if err != nil || !undone.Removed || !strings.Contains(undone.Note, "supervisor") {
		t.Errorf("undo: %+v %v", undone, err)
	}
	if again, err := p.UndoKill(ctx, ProcessKillRef{Name: fault.Name}); err != nil || again.Removed {
		t.Errorf("second undo: %+v %v, want nothing removed and no error", again, err)
	}

	// Without a record, the stale PID file is a target that is not there.
	var notFound *NotFoundError
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p1-1", PIDFile: pidFile}); !errors.As(err, &notFound) {
		t.Errorf("stale PID file: err = %v, want NotFoundError", err)
	}
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p1-2", PIDFile: pidFile + ".missing"}); !errors.As(err, &notFound) {
		t.Errorf("missing PID file: err = %v, want NotFoundError", err)
	}
	var inputErr *InputError
	garbage := filepath.Join(t.TempDir(), "garbage.pid")
	_ = os.WriteFile(garbage, []byte("web\n"), 0o644)
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p1-3", PIDFile: garbage}); !errors.As(err, &inputErr) || inputErr.Field != "pidFile" {
		t.Errorf("PID file without a PID: err = %v, want an InputError naming pidFile", err)
	}
	self := filepath.Join(t.TempDir(), "self.pid")
	_ = os.WriteFile(self, []byte(strconv.Itoa(os.Getpid())), 0o644)
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p1-4", PIDFile: self}); !errors.As(err, &inputErr) || !strings.Contains(inputErr.Problem, "worker itself") {
		t.Errorf("PID file naming this process: err = %v, want a refusal", err)
	}
	if _, err := (&Processes{}).Kill(ctx, fault); err == nil || !strings.Contains(err.Error(), "RecordDir") {
		t.Errorf("no record directory: err = %v", err)
	}
}

func TestProcessKillByCommandLineIsLimitedAndSparesRestartedProcesses(t *testing.T) {
	ctx := context.Background()
	p := &Processes{RecordDir: t.TempDir()}
	marker := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	first, second := sleeper(t, marker), sleeper(t, marker)
	match := `^sleep 3600\.` + marker + `$`

	var inputErr *InputError
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p2-0", Match: match}); !errors.As(err, &inputErr) || inputErr.Field != "match" || !strings.Contains(inputErr.Problem, "matches 2 processes") {
		t.Fatalf("two matches, limit 1: err = %v, want a refusal naming match", err)
	}
	for _, cmd := range []*exec.Cmd{first, second} {
		if !procs.Running(cmd.Process.Pid) {
			t.Fatalf("process %d died of a refused kill", cmd.Process.Pid)
		}
	}
	fault := ProcessKill{Name: "gameday-p2-0", Match: match, Limit: 2}
	result, err := p.Kill(ctx, fault)
	if err != nil || len(result.Killed) != 2 {
		t.Fatalf("kill with limit 2: %+v %v", result, err)
	}
	if !killedBySIGKILL(first) || !killedBySIGKILL(second) {
		t.Error("the matched processes did not die of SIGKILL")
	}
	// A supervisor restarts the service under the same command line; the
	// retried activity finds its record and leaves the new process alone.
	restarted := sleeper(t, marker)
	retried, err := p.Kill(ctx, fault)
	if err != nil || !retried.AlreadyInjected || len(retried.Killed) != 2 {
		t.Errorf("retried kill: %+v %v, want the recorded two", retried, err)
	}
	if !procs.Running(restarted.Process.Pid) {
		t.Error("the retry killed the restarted process")
	}
	var notFound *NotFoundError
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p2-1", Match: `^no such command ` + marker}); !errors.As(err, &notFound) {
		t.Errorf("nothing matching: err = %v, want NotFoundError", err)
	}
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p2-2", Match: "("}); !errors.As(err, &inputErr) || inputErr.Field != "match" {
		t.Errorf("bad pattern: err = %v, want an InputError naming match", err)
	}
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-p2-3", Match: "x", PIDFile: "/run/x.pid"}); !errors.As(err, &inputErr) || inputErr.Field != "pidFile" {
		t.Errorf("both pidFile and match: err = %v, want an InputError", err)
	}
}

// A SIGTERM reaches the process, which may handle it: here it leaves a file
// and exits. A signal the spec does not allow is refused, naming signal.
func TestProcessKillSendsTheSpecsSignal(t *testing.T) {
	ctx := context.Background()
	p := &Processes{RecordDir: t.TempDir()}
	marker := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	handled := filepath.Join(t.TempDir(), "handled")
	// The script says it is ready once its trap is set (a signal before
	// that would end it by default), and waits in a builtin: a forked sleep
	// would briefly be a second process with the same command line.
	cmd := exec.Command("bash", "-c", `trap 'echo TERM >"$0"; exit 0' TERM; mkfifo "$0.fifo"; exec 9<>"$0.fifo"; : >"$0.ready"; while :; do read -r -t 1 -u 9; done`, handled, marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(handled + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bash never set its TERM trap")
		}
	}
	result, err := p.Kill(ctx, ProcessKill{Name: "gameday-sig-0", Match: `^bash -c .* ` + regexp.QuoteMeta(marker) + `$`, Signal: "SIGTERM"})
	if err != nil || len(result.Killed) != 1 {
		t.Fatalf("SIGTERM: %+v %v", result, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the process did not exit by its own TERM handler: %v", err)
	}
	if got, err := os.ReadFile(handled); err != nil || strings.TrimSpace(string(got)) != "TERM" {
		t.Errorf("handler output %q %v, want TERM", got, err)
	}
	var inputErr *InputError
	if _, err := p.Kill(ctx, ProcessKill{Name: "gameday-sig-1", Match: "x", Signal: "SIGSTOP"}); !errors.As(err, &inputErr) || inputErr.Field != "signal" {
		t.Errorf("SIGSTOP: err = %v, want an InputError naming signal", err)
	}
}
