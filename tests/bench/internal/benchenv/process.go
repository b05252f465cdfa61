package benchenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyMarker is the line a worker prints once it serves.
const readyMarker = "infraflow worker is running"

const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// Process is one running worker binary (`worker --dev` or a plain worker).
type Process struct {
	Name    string
	cmd     *exec.Cmd
	out     *tailWriter
	exited  chan struct{}
	waitErr error
}

// Command is how to start a Process.
type Command struct {
	Name string // for messages: "server", "worker", ...
	Bin  string
	Args []string
	Env  []string
	// Dir, when set, is made and is the process's working directory.
	Dir string
}

// Start starts the process and waits until it says it is ready.
func Start(ctx context.Context, c Command) (*Process, error) {
	// Not CommandContext: that would SIGKILL on cancel, and a worker should
	// stop through its SIGINT path (a --dev one takes its tools with it).
	cmd := exec.Command(c.Bin, c.Args...)
	cmd.Env = c.Env
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the %s process's dir: %w", c.Name, err)
		}
		cmd.Dir = c.Dir
	}
	out := newTailWriter(64<<10, readyMarker)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s process: %w", c.Name, err)
	}
	p := &Process{Name: c.Name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-out.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the %s process exited before it was ready: %v\n%s", c.Name, p.waitErr, out)
	case <-time.After(startTimeout):
		_ = p.Interrupt()
		return nil, fmt.Errorf("the %s process was not ready after %s:\n%s", c.Name, startTimeout, out)
	case <-ctx.Done():
		_ = p.Interrupt()
		return nil, ctx.Err()
	}
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is the end of what the process wrote, for error messages.
func (p *Process) Output() string { return p.out.String() }

// Kill is SIGKILL: no shutdown code runs, as in a crash.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL to the %s process: %w", p.Name, err)
	}
	<-p.exited
	return nil
}

// Interrupt sends SIGINT and waits; a process that hangs is killed so the
// benchmark never leaves one behind. One that already ended is left alone.
func (p *Process) Interrupt() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("interrupting the %s process: %w", p.Name, err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("the %s process exited with %v after SIGINT:\n%s", p.Name, p.waitErr, p.out)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the %s process did not stop within %s of SIGINT; killed it", p.Name, stopTimeout)
	}
}

// tailWriter keeps only the end of a process's output (a worker logs a line
// per activity, far too much to keep for 10,000 approvals) and notices the
// readiness line.
type tailWriter struct {
	mu     sync.Mutex
	buf    []byte
	limit  int
	marker []byte
	seen   bool
	ready  chan struct{}
}

func newTailWriter(limit int, marker string) *tailWriter {
	return &tailWriter{limit: limit, marker: []byte(marker), ready: make(chan struct{})}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if !w.seen && bytes.Contains(w.buf, w.marker) {
		w.seen = true
		close(w.ready)
	}
	if over := len(w.buf) - w.limit; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// OutputTails is what to show when a benchmark's harness fails: the end of
// each started process's output.
func OutputTails(procs ...*Process) string {
	var b strings.Builder
	for _, p := range procs {
		if p != nil {
			fmt.Fprintf(&b, "--- last output of the %s process ---\n%s\n", p.Name, p.Output())
		}
	}
	return b.String()
}
