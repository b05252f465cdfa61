// Command gameday measures game days on the local platform
// (../shared/docs/benchmarks.md, "Game day"): a toxiproxy latency fault that
// breaks an SLO probe, over repeated runs, timed from injection to the abort
// (detection), from the abort to every fault undone (rollback) and from then
// to the steady state again (recovery); then a kill sweep that SIGKILLs the
// worker at random moments of a game day, starts it again, and checks that
// the game day completed once and left no fault behind.
//
// It exits non-zero when a fault is left behind or an invariant fails, never
// because a time missed its target. Run it from the repository root:
//
//	go run ./tests/bench/gameday --runs 5 --kills 10 --out .infraflow/bench
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/infraflow/infraflow/tests/bench/internal/benchenv"
)

type config struct {
	runs, kills int
	seed        int64
	killFault   time.Duration
	out, bin    string
}

func main() {
	// Its separate worker is not --dev, so it must be given the passphrase of
	// the stack state.
	os.Setenv("PULUMI_CONFIG_PASSPHRASE", "infraflow benchmark")
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 5, "timing runs: latency game days that abort")
	flag.IntVar(&cfg.kills, "kills", 10, "kill-sweep runs: game days whose worker is SIGKILLed and started again")
	flag.Int64Var(&cfg.seed, "seed", 0, "seed of the kill points (default: from the clock; the report prints it)")
	flag.DurationVar(&cfg.killFault, "kill-fault", 20*time.Second, "how long the kill sweep's fault lasts")
	flag.StringVar(&cfg.out, "out", ".infraflow/bench", "directory for gameday.json and gameday.md")
	flag.StringVar(&cfg.bin, "bin", "", "directory holding infraflow-worker and starter (`make build`'s .infraflow/bin); empty builds them")
	flag.Parse()
	seeded := false
	flag.Visit(func(f *flag.Flag) { seeded = seeded || f.Name == "seed" })
	if !seeded {
		cfg.seed = time.Now().UnixNano()
	}
	if flag.NArg() > 0 || cfg.runs < 0 || cfg.kills < 0 || cfg.killFault < probeInterval {
		fmt.Fprintf(os.Stderr, "bench-gameday: want no arguments, --runs and --kills of 0 or more, --kill-fault of at least %s\n", probeInterval)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-gameday:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) (err error) {
	tmp, err := os.MkdirTemp("", "infraflow-bench-gameday-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := findBinaries(cfg.bin, tmp)
	if err != nil {
		return err
	}
	fmt.Println("==> starting the platform (worker --dev with toxiproxy) and a separate worker on queue " + gameDayQueue)
	b, err := startBench(ctx, bin, tmp)
	if err != nil {
		return fmt.Errorf("starting the platform: %w", err)
	}
	defer func() { err = errors.Join(err, b.stop()) }()
	fmt.Printf("    frontend %s, toxiproxy %s, proxy %q at %s\n", b.frontend, b.toxiproxy, proxyName, b.proxied)

	rep := report{Seed: cfg.seed, KillFaultS: cfg.killFault.Seconds(), Started: time.Now().UTC()}
	fmt.Printf("==> %d timing runs: %s latency on the proxy against a p95 of at most %s, probes every %s, abort after %d failed rounds\n",
		cfg.runs, faultLatency, sloLatency, probeInterval, abortAfter)
	for i := 1; i <= cfg.runs; i++ {
		r, err := b.timingRun(ctx, i)
		if err != nil {
			return fmt.Errorf("timing run %d: %w\n%s", i, err, b.outputTails())
		}
		fmt.Println("    " + r.line())
		rep.Timing = append(rep.Timing, r)
	}

	// The fault is injected one steady-state round (a fraction of a
	// second) after the approval, so this window runs from just after the
	// approval to just before the fault's end.
	plans := chooseKills(cfg.seed, cfg.kills, cfg.killFault, minDown, maxDown)
	fmt.Printf("==> kill sweep: %d runs, seed %d, a %s fault that does not abort; SIGKILL at a uniform moment in the %s after approval, restart after 1-3 s\n",
		cfg.kills, cfg.seed, cfg.killFault, cfg.killFault)
	for i, plan := range plans {
		r, err := b.killRun(ctx, i+1, plan, cfg.killFault)
		if err != nil {
			return fmt.Errorf("kill run %d (kill %s after approval): %w\n%s", i+1, plan.At, err, b.outputTails())
		}
		fmt.Println("    " + r.line())
		rep.Kills = append(rep.Kills, r)
	}
	rep.ChatPosts, rep.ChatOutcomes = b.chat.posts("Game day bench ")
	return rep.write(cfg.out)
}

// outputTails is what to show when the harness fails.
func (b *bench) outputTails() string {
	return benchenv.OutputTails(b.platform, b.worker)
}
