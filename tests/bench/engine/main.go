// Command engine benchmarks infraflow's engine on the embedded Temporal
// server with one worker (../shared/docs/benchmarks.md, "Engine"): workflow
// start-to-completion throughput, approval Signal/Update-to-resume latency,
// and the memory of server and worker holding N waiting approvals.
//
// Benchmarks measure; tests check: this exits non-zero only when the harness
// cannot run (a process does not start, a workflow fails), never because a
// number moved. Run it from the repository root:
//
//	go run ./tests/bench/engine --out .infraflow/bench
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	out            string
	throughputRuns int
	starters       int
	latencyRuns    int
	memoryNs       []int
	memory         memoryOptions
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var cfg config
	var ns string
	flag.StringVar(&cfg.out, "out", ".infraflow/bench", "directory for engine.json and engine.md")
	flag.IntVar(&cfg.throughputRuns, "throughput-runs", 200, "PlatformCheck workflows to run for throughput; 0 skips")
	flag.IntVar(&cfg.starters, "starters", 20, "concurrent starters for throughput (each starts one workflow and waits for it)")
	flag.IntVar(&cfg.latencyRuns, "latency-approvals", 200, "approvals to decide one at a time, half by Update, half by Signal; 0 skips")
	flag.StringVar(&ns, "memory-n", "1000,10000", "comma-separated counts of waiting approvals to measure memory at; empty skips")
	flag.IntVar(&cfg.memory.starters, "memory-starters", 50, "concurrent start calls when filling the engine with approvals")
	flag.IntVar(&cfg.memory.wave, "memory-wave", 500, "approvals started at a time; each wave waits until its approvals are waiting")
	flag.DurationVar(&cfg.memory.settle, "settle", 5*time.Second, "quiet time before each memory reading")
	flag.DurationVar(&cfg.memory.timeout, "settle-timeout", 30*time.Minute, "longest wait for started approvals to be waiting, per phase; longer fails the harness")
	flag.Parse()
	if flag.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	for _, field := range strings.Split(ns, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		n, err := strconv.Atoi(field)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("--memory-n: %q is not a positive count", field)
		}
		cfg.memoryNs = append(cfg.memoryNs, n)
	}
	if cfg.starters <= 0 || cfg.memory.starters <= 0 || cfg.memory.wave <= 0 {
		return cfg, errors.New("--starters, --memory-starters and --memory-wave must be positive")
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config) (err error) {
	work, err := os.MkdirTemp("", "infraflow-bench-engine-")
	if err != nil {
		return fmt.Errorf("creating a work dir: %w", err)
	}
	defer os.RemoveAll(work)

	progress("building the worker")
	bin, err := buildWorker(ctx, work)
	if err != nil {
		return err
	}
	r := report{Machine: machineInfo()}
	defer func() {
		if err != nil && (r.Throughput != nil || r.Latency != nil || len(r.Memory) > 0) {
			fmt.Fprintf(os.Stderr, "measured before the failure (not written to %s):\n%s", cfg.out, r.markdown())
		}
	}()

	// Throughput and latency share one platform; memory gets a fresh one per N,
	// so exactly N approvals are held and the idle reading is clean.
	if cfg.throughputRuns > 0 || cfg.latencyRuns > 0 {
		if err := withPlatform(ctx, bin, work, "timing", func(p *platform) error {
			return measureTiming(ctx, p, cfg, &r)
		}); err != nil {
			return err
		}
	}
	for _, n := range cfg.memoryNs {
		if err := withPlatform(ctx, bin, work, fmt.Sprintf("memory-%d", n), func(p *platform) error {
			if r.Machine.ServerVersion == "" {
				// Context for the figures, not one of them: a failure here is no reason to stop.
				r.Machine.ServerVersion, _ = serverVersion(ctx, p.client)
			}
			progress("memory: filling the engine with %d waiting approvals", n)
			m, err := measureMemory(ctx, p, n, cfg.memory)
			if err != nil {
				return fmt.Errorf("memory at N=%d: %w", n, err)
			}
			r.Memory = append(r.Memory, m)
			return nil
		}); err != nil {
			return err
		}
	}

	fmt.Print(r.markdown())
	if err := r.write(cfg.out); err != nil {
		return err
	}
	progress("wrote %s/engine.json and %s/engine.md", cfg.out, cfg.out)
	return nil
}

func measureTiming(ctx context.Context, p *platform, cfg config, r *report) error {
	var err error
	if r.Machine.ServerVersion, err = serverVersion(ctx, p.client); err != nil {
		return err
	}
	if cfg.throughputRuns > 0 {
		progress("throughput: %d PlatformCheck workflows, %d starters", cfg.throughputRuns, cfg.starters)
		t, err := measureThroughput(ctx, p.client, cfg.throughputRuns, cfg.starters)
		if err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
		r.Throughput = &t
	}
	if cfg.latencyRuns > 0 {
		progress("latency: %d approvals decided one at a time", cfg.latencyRuns)
		l, err := measureLatency(ctx, p.client, cfg.latencyRuns, cfg.starters, cfg.memory.timeout)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		r.Latency = &l
	}
	return nil
}

// withPlatform runs fn against a fresh server and worker and always stops
// them; when something fails it shows the end of their output.
func withPlatform(ctx context.Context, bin, work, name string, fn func(*platform) error) error {
	progress("%s: starting server and worker", name)
	p, err := startPlatform(ctx, bin, filepath.Join(work, name))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	err = fn(p)
	if err != nil {
		fmt.Fprint(os.Stderr, p.outputTails())
	}
	if stopErr := p.stop(); stopErr != nil && err == nil {
		err = fmt.Errorf("%s: stopping: %w", name, stopErr)
	}
	return err
}

// progress goes to stderr so stdout carries only the table.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

// forEach runs fn for 0..n-1 on at most `workers` goroutines and stops
// handing out work at the first error.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
