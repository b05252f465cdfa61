package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/worker"
)

// stickyCacheEnv sets --sticky-cache-size.
const stickyCacheEnv = "INFRAFLOW_STICKY_CACHE_SIZE"

// defaultStickyCacheSize is how many workflows the worker keeps in memory
// between their tasks; the SDK's own default is 10,000. Measured with
// `make bench-engine` (README, Benchmarks): the idle worker is about
// 175 MiB of RSS (150 of them its binary's pages), and each cached workflow
// adds about 70 KiB (a waiting Approval: two parked coroutines' stacks, the
// SDK's state of the run, and the GC's headroom over them), so with 10,000
// waiting approvals the worker held 233 MiB with 500 cached, 273 MiB with
// 1,000, and 684-711 MiB with the SDK's 10,000 (runs before this flag).
// 500 keeps it well under 300 MB however many approvals wait, with room for
// running activities. A workflow out of the cache is not lost: its next
// task (a decision, a timer) fetches its history and replays it first,
// which measured 2-10 ms more per decision on a waiting approval. Workflows
// making progress are touched often and stay cached; those evicted are the
// ones waiting on people.
const defaultStickyCacheSize = 500

const stickyCacheHelp = "workflows kept in memory between their tasks (the SDK's sticky cache, shared by every worker in the process; the SDK's default is 10,000). " +
	"Each costs about 70 KiB of RSS: 500 keeps a worker holding 10,000 waiting approvals near 235 MiB, the SDK's 10,000 put it near 700 MiB. " +
	"A workflow not in the cache replays its history on its next task (2-10 ms more per decision on a waiting approval); " +
	"0 keeps none (env " + stickyCacheEnv + ")"

// stickyCache is --sticky-cache-size: the flag, or else the environment
// variable, or else the default.
type stickyCache struct {
	size int
	// envErr is a malformed environment variable, reported when the flag
	// does not override it.
	envErr error
}

func (s *stickyCache) addFlags(f *pflag.FlagSet) {
	def := defaultStickyCacheSize
	if v := os.Getenv(stickyCacheEnv); strings.TrimSpace(v) != "" {
		n, err := parseStickyCacheSize(v)
		if err != nil {
			s.envErr = fmt.Errorf("%s: %w", stickyCacheEnv, err)
		} else {
			def = n
		}
	}
	f.IntVar(&s.size, "sticky-cache-size", def, stickyCacheHelp)
}

func parseStickyCacheSize(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number of workflows (0 or more)", v)
	}
	return n, nil
}

// apply sizes the SDK's cache. The SDK makes the cache when the first worker
// of the process is created and keeps that size, so this runs before
// anything else: with --dev the embedded server's own system workers are
// SDK workers too, created when it starts.
func (s *stickyCache) apply(flagSet bool) error {
	if s.envErr != nil && !flagSet {
		return s.envErr
	}
	if s.size < 0 {
		return fmt.Errorf("--sticky-cache-size %d: want 0 or more workflows", s.size)
	}
	worker.SetStickyWorkflowCacheSize(s.size)
	return nil
}
