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

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/tests/bench/internal/benchenv"
)

const (
	// benchQueue is polled by the measured worker only; the server process
	// polls idleQueue, which nobody uses, so it does next to no worker work.
	benchQueue = "bench"
	idleQueue  = "bench-idle"
	namespace  = benchenv.Namespace
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
	store    *store
	server   *benchenv.Process
	worker   *benchenv.Process
	client   client.Client
	frontend string
	// metrics is the measured worker's Prometheus endpoint.
	metrics string
}

// platformOptions are what the measured worker runs with.
type platformOptions struct {
	// stickyCacheSize is passed as --sticky-cache-size; below 0 the worker's
	// default is left alone.
	stickyCacheSize int
}

func startPlatform(ctx context.Context, bin, dir string, st *store, o platformOptions) (p *platform, err error) {
	p = &platform{store: st}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	addrs := make([]string, 3)
	for i := range addrs {
		if addrs[i], err = freeport.Addr("127.0.0.1"); err != nil {
			return p, err
		}
	}
	p.frontend = addrs[0]
	serverDir, workerDir := filepath.Join(dir, "server"), filepath.Join(dir, "worker")
	serverArgs := append([]string{"--dev", "--data-dir", serverDir,
		"--frontend-address", p.frontend,
		"--ui-address", "", "--metrics-address", "",
		// --dev serves chat ops on 127.0.0.1:8234 by default, which a `make dev`
		// running beside the benchmark already holds.
		"--chat-address", addrs[1],
		// No codec endpoint: nothing here reads payloads through it, and its
		// default port may be held by a `make dev` beside the benchmark.
		"--codec-address", "",
		// Nothing here scales, deploys or injects faults: without these the
		// server process would start the local Kubernetes control plane (five
		// more processes), Prometheus and toxiproxy beside the benchmark
		// whenever `make tools` put them on PATH (make does), and take their
		// fixed ports.
		"--kube-address", "", "--prometheus-address", "", "--toxiproxy-address", "", "--moto-address", "",
		"--task-queue", idleQueue}, st.serverArgs()...)
	p.server, err = startProcess(ctx, "server", bin, serverDir, serverArgs...)
	if err != nil {
		return p, err
	}
	// The measured worker judges approvals by the directory the server
	// process uses (unsigned requesters allowed, as with `make dev`).
	directoryFile, err := benchenv.DevDirectory(serverDir, dir)
	if err != nil {
		return p, err
	}
	workerArgs := []string{"--address", p.frontend,
		"--data-dir", workerDir,
		// Metrics on, as a deployed worker has them by default: the benchmark
		// reads the sticky cache's size, goroutines and heap from them.
		"--metrics-address", addrs[2],
		// The measured worker encrypts as a deployed one does, with the key
		// the server process made.
		"--codec-keys", filepath.Join(serverDir, "codec-keys"),
		"--directory", directoryFile,
		"--task-queue", benchQueue}
	if o.stickyCacheSize >= 0 {
		workerArgs = append(workerArgs, "--sticky-cache-size", strconv.Itoa(o.stickyCacheSize))
	}
	p.worker, err = startProcess(ctx, "worker", bin, workerDir, workerArgs...)
	if err != nil {
		return p, err
	}
	p.metrics = "http://" + addrs[2] + "/metrics"
	if p.client, err = benchenv.Dial(p.frontend, filepath.Join(serverDir, "codec-keys"), slog.LevelWarn); err != nil {
		return p, err
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
	for _, proc := range []*benchenv.Process{p.worker, p.server} {
		if proc != nil {
			errs = append(errs, proc.Interrupt())
		}
	}
	return errors.Join(errs...)
}

// outputTails is what to show when the harness fails.
func (p *platform) outputTails() string {
	return benchenv.OutputTails(p.server, p.worker) + p.store.logTail()
}

// startProcess starts a worker binary in its own dir and environment.
func startProcess(ctx context.Context, name, bin, dir string, args ...string) (*benchenv.Process, error) {
	return benchenv.Start(ctx, benchenv.Command{Name: name, Bin: bin, Args: args, Env: benchenv.Isolated(dir), Dir: dir})
}

// memory is resident set size from the kernel: what the process really holds,
// whatever the Go GC has or has not returned yet.
type memory struct {
	RSSMiB  float64 `json:"rssMiB"`
	PeakMiB float64 `json:"peakRssMiB"` // VmHWM: the high-water mark since start
	// RSS split: anonymous memory (the Go heap, stacks and runtime) and pages
	// of files, almost all of them the worker binary's code and read-only
	// data, touched since start (shared with any other process running the
	// same binary, reclaimable by the kernel, and counted in RSS all the same).
	AnonMiB float64 `json:"rssAnonMiB"`
	FileMiB float64 `json:"rssFileMiB"`
}

func processMemory(p *benchenv.Process) (memory, error) {
	path := fmt.Sprintf("/proc/%d/status", p.PID())
	data, err := os.ReadFile(path)
	if err != nil {
		return memory{}, fmt.Errorf("reading the %s process's memory (Linux only): %w", p.Name, err)
	}
	var m memory
	fields := map[string]*float64{"VmRSS": &m.RSSMiB, "VmHWM": &m.PeakMiB, "RssAnon": &m.AnonMiB, "RssFile": &m.FileMiB}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		field := fields[key]
		if !ok || field == nil {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			return memory{}, fmt.Errorf("parsing %s in %s: %w", key, path, err)
		}
		*field = kib / 1024
		found++
	}
	if found != len(fields) {
		return memory{}, fmt.Errorf("%s lacks some of the VmRSS, VmHWM, RssAnon and RssFile lines", path)
	}
	return m, nil
}
