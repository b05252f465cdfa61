package pulumistack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// dyingCLI runs the pulumi CLI as the SDK's own command does, except that
// the CLI is killed when the worker dies. An orphaned CLI would go on
// writing a state that another worker, seeing this worker's hold released,
// takes over: the hold is only proof that nobody writes if its writers die
// with it.
type dyingCLI struct {
	path    string
	version semver.Version
}

var _ auto.PulumiCommand = dyingCLI{}

func (c dyingCLI) Version() semver.Version { return c.version }

func (c dyingCLI) Run(ctx context.Context, workdir string, stdin io.Reader, additionalOutput, additionalErrorOutput []io.Writer,
	additionalEnv []string, args ...string) (string, string, int, error) {
	if !slices.Contains(args, "--non-interactive") {
		args = append([]string{"--non-interactive"}, args...)
	}
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = workdir
	cmd.Env = append(append(os.Environ(), additionalEnv...), "PULUMI_AUTOMATION_API=true",
		"PATH="+filepath.Dir(c.path)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A cancelled operation is interrupted, as the SDK does, so the engine
	// can write what it did before it stops.
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			_ = cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
	// Pdeathsig fires when the *thread* that started the child exits, and Go
	// ends threads of goroutines that exit locked to them: the start and the
	// wait share one locked thread, which lives as long as the CLI does.
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- cmd.Run()
	}()
	err := <-done
	code := -2 // the SDK's "unknown"
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err == nil {
		code = 0
	}
	return stdout.String(), stderr.String(), code, err
}

// newDyingCLI finds the CLI as the SDK does (PATH, version checked) and
// wraps it.
func newDyingCLI() (auto.PulumiCommand, error) {
	found, err := auto.NewPulumiCommand(nil)
	if err != nil {
		return nil, err
	}
	path, err := exec.LookPath("pulumi")
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return dyingCLI{path: path, version: found.Version()}, nil
}
