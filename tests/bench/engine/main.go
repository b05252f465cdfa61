// Command engine benchmarks infraflow's engine on the embedded Temporal
// server with one worker (../shared/docs/benchmarks.md, "Engine"): workflow
// start-to-completion throughput (a no-op provisioning and PlatformCheck),
// approval Signal/Update-to-resume latency, and the memory of server and
// worker holding N waiting approvals — with the server on SQLite and on
// PostgreSQL side by side.
//
// Benchmarks measure; tests check: this exits non-zero only when the harness
// cannot run (a process does not start, a workflow fails), never because a
// number moved. Run it from the repository root:
//
//	go run ./tests/bench/engine --out .infraflow/bench
//	go run ./tests/bench/engine --short --databases postgres   # a few minutes
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	out            string
	databases      []string
	throughputRuns int
	provisionRuns  int
	starters       int
	latencyRuns    int
	memoryNs       []int
	memory         memoryOptions
	platform       platformOptions
}

func main() {
	// Its separate worker is not --dev, so it must be given the passphrase of
	// the stack state.
	os.Setenv("PULUMI_CONFIG_PASSPHRASE", "infraflow benchmark")
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

// shortRun is what --short changes, unless the flag is given too: a few
// minutes' check that every measure runs, not figures to quote.
var shortRun = map[string]string{
	"throughput-runs":   "40",
	"provision-runs":    "40",
	"latency-approvals": "40",
	"memory-n":          "1000",
}

func parseFlags() (config, error) {
	var cfg config
	var ns, dbs string
	var short bool
	flag.StringVar(&cfg.out, "out", ".infraflow/bench", "directory for engine.json and engine.md")
	flag.StringVar(&dbs, "databases", "sqlite,postgres", "comma-separated databases to run the embedded server on, side by side: sqlite (worker --dev), postgres (worker --dev --temporal-db on a private PostgreSQL the benchmark starts)")
	flag.IntVar(&cfg.throughputRuns, "throughput-runs", 200, "PlatformCheck workflows to run for throughput; 0 skips")
	flag.IntVar(&cfg.provisionRuns, "provision-runs", 200, "no-op ProvisionStack workflows to run for throughput; 0 skips")
	flag.IntVar(&cfg.starters, "starters", 20, "concurrent starters for throughput (each starts one workflow and waits for it)")
	flag.IntVar(&cfg.latencyRuns, "latency-approvals", 200, "approvals to decide one at a time, half by Update, half by Signal; 0 skips")
	flag.StringVar(&ns, "memory-n", "1000,10000", "comma-separated counts of waiting approvals to measure memory at; empty skips")
	flag.StringVar(&ns, "approvals", "1000,10000", "the same as --memory-n")
	flag.BoolVar(&short, "short", false, "a short run to check the harness: "+shortSummary()+", unless given")
	flag.IntVar(&cfg.memory.starters, "memory-starters", 50, "concurrent start calls when filling the engine with approvals")
	flag.IntVar(&cfg.memory.wave, "memory-wave", 500, "approvals started at a time; each wave waits until its approvals are waiting")
	flag.DurationVar(&cfg.memory.settle, "settle", 5*time.Second, "quiet time before each memory reading")
	flag.DurationVar(&cfg.memory.timeout, "settle-timeout", 15*time.Minute, "longest wait for started approvals to be waiting: per wave when filling, for all of them when timing latency; longer fails the harness")
	flag.IntVar(&cfg.memory.probe, "cache-probe", 20, "after each memory reading, approvals to decide among the newest (in the worker's sticky cache) and as many among the oldest (evicted when N exceeds it); 0 skips")
	flag.IntVar(&cfg.platform.stickyCacheSize, "sticky-cache-size", -1, "the measured worker's --sticky-cache-size; below 0 leaves the worker's default")
	flag.Parse()
	if flag.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if short {
		given := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if given["approvals"] {
			given["memory-n"] = true
		}
		for name, value := range shortRun {
			if !given[name] {
				if err := flag.Set(name, value); err != nil {
					return cfg, err
				}
			}
		}
	}
	var err error
	if cfg.databases, err = parseDatabases(dbs); err != nil {
		return cfg, err
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

func shortSummary() string {
	names := slices.Sorted(maps.Keys(shortRun))
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = "--" + name + " " + shortRun[name]
	}
	return strings.Join(parts, " ")
}

// phase is one fresh platform per database: timing (throughput and
// latency) or memory at one N.
type phase struct {
	name string
	run  func(ctx context.Context, p *platform, r *dbReport) error
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
	r := report{Machine: machineInfo(), StickyCacheSize: cfg.platform.stickyCacheSize}
	for _, db := range cfg.databases {
		r.Databases = append(r.Databases, &dbReport{Database: db})
	}
	defer func() {
		if err != nil && r.measured() {
			fmt.Fprintf(os.Stderr, "measured before the failure (not written to %s):\n%s", cfg.out, r.markdown())
		}
	}()

	// Throughput and latency share one platform; memory gets a fresh one per N,
	// so exactly N approvals are held and the idle reading is clean. Each
	// phase runs on every database before the next phase begins, the order
	// turning from one phase to the next, so that a ratio between databases
	// is measured side by side, under the same load of the machine.
	var phases []phase
	if cfg.throughputRuns > 0 || cfg.provisionRuns > 0 || cfg.latencyRuns > 0 {
		phases = append(phases, phase{"timing", func(ctx context.Context, p *platform, r *dbReport) error {
			return measureTiming(ctx, p, cfg, r)
		}})
	}
	for _, n := range cfg.memoryNs {
		phases = append(phases, phase{fmt.Sprintf("memory-%d", n), func(ctx context.Context, p *platform, r *dbReport) error {
			progress("memory: filling the engine with %d waiting approvals", n)
			m, err := measureMemory(ctx, p, n, cfg.memory)
			if err != nil {
				return fmt.Errorf("memory at N=%d: %w", n, err)
			}
			r.Memory = append(r.Memory, m)
			return nil
		}})
	}
	for i, ph := range phases {
		for j := range r.Databases {
			db := r.Databases[(i+j)%len(r.Databases)]
			if err := withPlatform(ctx, bin, work, db, ph.name, cfg.platform, func(p *platform) error {
				if r.Machine.ServerVersion == "" {
					// Context for the figures, not one of them: a failure here is no reason to stop.
					r.Machine.ServerVersion, _ = serverVersion(ctx, p.client)
				}
				return ph.run(ctx, p, db)
			}); err != nil {
				return err
			}
		}
	}

	fmt.Print(r.markdown())
	if err := r.write(cfg.out); err != nil {
		return err
	}
	progress("wrote %s/engine.json and %s/engine.md", cfg.out, cfg.out)
	return nil
}

func measureTiming(ctx context.Context, p *platform, cfg config, r *dbReport) error {
	if cfg.provisionRuns > 0 {
		progress("throughput: %d no-op ProvisionStack workflows, %d starters", cfg.provisionRuns, cfg.starters)
		w, err := startNoopProvisioner(p.client)
		if err != nil {
			return err
		}
		t, err := measureThroughput(ctx, noopProvisionWorkflow, cfg.provisionRuns, cfg.starters, runNoopProvision(p.client))
		w.Stop()
		if err != nil {
			return fmt.Errorf("throughput of no-op ProvisionStack: %w", err)
		}
		r.Provision = &t
	}
	if cfg.throughputRuns > 0 {
		progress("throughput: %d PlatformCheck workflows, %d starters", cfg.throughputRuns, cfg.starters)
		t, err := measureThroughput(ctx, platformCheckWorkflow, cfg.throughputRuns, cfg.starters, runPlatformCheck(p.client))
		if err != nil {
			return fmt.Errorf("throughput of PlatformCheck: %w", err)
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

// withPlatform runs fn against a fresh database, server and worker and
// always stops them; when something fails it shows the end of their output.
func withPlatform(ctx context.Context, bin, work string, db *dbReport, phase string, o platformOptions, fn func(*platform) error) error {
	name := db.Database + "/" + phase
	progress("%s: starting the database, server and worker", name)
	st, err := startStore(ctx, db.Database)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer st.stop()
	if st.version != "" {
		db.Version, db.Settings = st.version, st.settings
	}
	p, err := startPlatform(ctx, bin, filepath.Join(work, db.Database+"-"+phase), st, o)
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
