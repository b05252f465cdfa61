package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/payloadcodec"
	"github.com/infraflow/infraflow/tests/bench/internal/benchenv"
)

const (
	readyMarker = "infraflow worker is running"
	// benchQueue is polled by the measured worker only; the server process
	// polls idleQueue, which nobody uses, so it does next to no worker work.
	benchQueue = "bench"
	idleQueue  = "bench-idle"
	namespace  = "default"

	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// buildWorker builds the worker binary the way `make build` does, so the
// benchmark measures the code in this checkout.
func buildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./worker (run from the repository root): %w\n%s", err, out)
	}
	return bin, nil
}

// platform is the server process, the measured worker process and a client.
// Two processes, not one `worker --dev`, so that server and worker memory can
// be read separately.
type platform struct {
	server   *process
	worker   *process
	client   client.Client
	frontend string
}

func startPlatform(ctx context.Context, bin, dir string) (p *platform, err error) {
	p = &platform{}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	p.frontend, err = freeport.Addr("127.0.0.1")
	if err != nil {
		return p, err
	}
	chat, err := freeport.Addr("127.0.0.1")
	if err != nil {
		return p, err
	}
	serverDir, workerDir := filepath.Join(dir, "server"), filepath.Join(dir, "worker")
	p.server, err = startProcess(ctx, "server", bin, serverDir,
		"--dev", "--data-dir", serverDir,
		"--frontend-address", p.frontend,
		"--ui-address", "", "--metrics-address", "",
		// --dev serves chat ops on 127.0.0.1:8234 by default, which a `make dev`
		// running beside the benchmark already holds.
		"--chat-address", chat,
		// No codec endpoint: nothing here reads payloads through it, and its
		// default port may be held by a `make dev` beside the benchmark.
		"--codec-address", "",
		// Nothing here scales an Auto Scaling group.
		"--moto-address", "",
		"--task-queue", idleQueue)
	if err != nil {
		return p, err
	}
	p.worker, err = startProcess(ctx, "worker", bin, workerDir,
		"--address", p.frontend,
		"--data-dir", workerDir,
		"--metrics-address", "",
		// The measured worker encrypts as a deployed one does, with the key
		// the server process made.
		"--codec-keys", filepath.Join(serverDir, "codec-keys"),
		"--task-queue", benchQueue)
	if err != nil {
		return p, err
	}
	dataConverter, err := benchDataConverter(filepath.Join(serverDir, "codec-keys"))
	if err != nil {
		return p, err
	}
	p.client, err = client.Dial(client.Options{
		HostPort:      p.frontend,
		Namespace:     namespace,
		DataConverter: dataConverter,
		Logger:        sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		return p, fmt.Errorf("connecting the benchmark client to %s: %w", p.frontend, err)
	}
	return p, nil
}

// stop interrupts the worker before the server, as an operator would, and
// reports the first process that did not stop cleanly.
func (p *platform) stop() error {
	if p.client != nil {
		p.client.Close()
	}
	var errs []error
	for _, proc := range []*process{p.worker, p.server} {
		if proc != nil {
			errs = append(errs, proc.interrupt())
		}
	}
	return errors.Join(errs...)
}

// outputTails is what to show when the harness fails.
func (p *platform) outputTails() string {
	var b strings.Builder
	for _, proc := range []*process{p.server, p.worker} {
		if proc != nil {
			fmt.Fprintf(&b, "--- last output of the %s process ---\n%s\n", proc.name, proc.out.String())
		}
	}
	return b.String()
}

// process is one running worker binary.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     *tailWriter
	exited  chan struct{}
	waitErr error
}

func startProcess(ctx context.Context, name, bin, dir string, args ...string) (*process, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s dir: %w", name, err)
	}
	// Not CommandContext: that would SIGKILL, and the shutdown should be the
	// clean SIGINT path.
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = benchenv.Isolated(dir)
	out := newTailWriter(64<<10, readyMarker)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s process: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	select {
	case <-out.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the %s process exited before it was ready: %v\n%s", name, p.waitErr, out)
	case <-time.After(startTimeout):
		_ = p.interrupt()
		return nil, fmt.Errorf("the %s process was not ready after %s:\n%s", name, startTimeout, out)
	case <-ctx.Done():
		_ = p.interrupt()
		return nil, ctx.Err()
	}
}

// interrupt sends SIGINT and waits; a process that hangs is killed so the
// benchmark never leaves one behind.
func (p *process) interrupt() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("interrupting the %s process: %w", p.name, err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("the %s process exited with %v after SIGINT:\n%s", p.name, p.waitErr, p.out)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the %s process did not stop within %s of SIGINT; killed it", p.name, stopTimeout)
	}
}

// memory is resident set size from the kernel: what the process really holds,
// whatever the Go GC has or has not returned yet.
type memory struct {
	RSSMiB  float64 `json:"rssMiB"`
	PeakMiB float64 `json:"peakRssMiB"` // VmHWM: the high-water mark since start
}

func (p *process) memory() (memory, error) {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return memory{}, fmt.Errorf("reading the %s process's memory (Linux only): %w", p.name, err)
	}
	var m memory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			return memory{}, fmt.Errorf("parsing %s in %s: %w", key, path, err)
		}
		if key == "VmRSS" {
			m.RSSMiB = kib / 1024
		} else {
			m.PeakMiB = kib / 1024
		}
		found++
	}
	if found != 2 {
		return memory{}, fmt.Errorf("%s has no VmRSS/VmHWM lines", path)
	}
	return m, nil
}

// tailWriter keeps only the end of a process's output: a worker logs a line
// per activity, far too much to keep for 10,000 approvals. It also notices
// the readiness line.
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

// benchDataConverter encrypts with the platform's keys, as the starter does.
func benchDataConverter(keyFile string) (converter.DataConverter, error) {
	keys, err := payloadcodec.LoadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	codec, err := payloadcodec.New(keys, "codec key file "+keyFile)
	if err != nil {
		return nil, err
	}
	return payloadcodec.DataConverter(codec), nil
}
