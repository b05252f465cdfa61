package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/approvals"
)

type memoryResult struct {
	Approvals int `json:"approvals"`
	// FillSeconds is how long it took to start the N approvals and see each
	// one waiting for a decision, its start activities done.
	FillSeconds   float64 `json:"fillSeconds"`
	FillPerSecond float64 `json:"approvalsPerSecond"`
	Wave          int     `json:"wave"`
	Starters      int     `json:"starters"`
	ServerIdle    memory  `json:"serverIdle"`
	Server        memory  `json:"server"`
	WorkerIdle    memory  `json:"workerIdle"`
	Worker        memory  `json:"worker"`
	// PostgreSQL's processes (PSS summed, MiB), for a server on PostgreSQL.
	PostgresIdleMiB *float64 `json:"postgresIdlePssMiB,omitempty"`
	PostgresMiB     *float64 `json:"postgresPssMiB,omitempty"`
	// KiB of RSS each waiting approval adds, above the idle process.
	ServerKiBPerApproval float64 `json:"serverKiBPerApproval"`
	WorkerKiBPerApproval float64 `json:"workerKiBPerApproval"`
	// WorkerInside is the worker's own account, read with the RSS.
	WorkerInside *workerInside `json:"workerInside,omitempty"`
	// Probe decides some of the held approvals after the readings: the
	// newest, still in the worker's sticky cache, and the oldest, evicted
	// from it when N exceeds the cache, whose decision replays their history.
	Probe *cacheProbe `json:"probe,omitempty"`
}

// cacheProbe is the Update round trip (decision sent → result returned) on
// the newest and on the oldest approvals held, decided in turn.
type cacheProbe struct {
	Newest stats `json:"newest"`
	Oldest stats `json:"oldest"`
}

type memoryOptions struct {
	starters int
	wave     int
	// settle is the quiet time before each reading, so that it is what holding
	// the approvals costs, not what starting them did.
	settle  time.Duration
	timeout time.Duration
	// probe is how many of the newest and of the oldest approvals are
	// decided after the readings (cacheProbe); 0 decides none.
	probe int
}

// measureMemory expects a fresh platform, so that exactly n approvals are
// held and the idle reading is the same processes before any work.
func measureMemory(ctx context.Context, p *platform, n int, o memoryOptions) (memoryResult, error) {
	r := memoryResult{Approvals: n, Wave: o.wave, Starters: o.starters}
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	var err error
	if r.ServerIdle, r.WorkerIdle, r.PostgresIdleMiB, err = readMemory(p); err != nil {
		return r, err
	}

	begin := time.Now()
	prefix := fmt.Sprintf("bench-memory-%d", n)
	if err := fillApprovals(ctx, p.client, prefix, n, o); err != nil {
		return r, err
	}
	r.FillSeconds = time.Since(begin).Seconds()
	r.FillPerSecond = float64(n) / r.FillSeconds
	if err := checkPendingCount(ctx, p.client, n); err != nil {
		return r, err
	}

	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	if r.Server, r.Worker, r.PostgresMiB, err = readMemory(p); err != nil {
		return r, err
	}
	r.ServerKiBPerApproval = (r.Server.RSSMiB - r.ServerIdle.RSSMiB) * 1024 / float64(n)
	r.WorkerKiBPerApproval = (r.Worker.RSSMiB - r.WorkerIdle.RSSMiB) * 1024 / float64(n)
	inside, err := readWorkerInside(ctx, p.metrics)
	if err != nil {
		return r, err
	}
	r.WorkerInside = &inside

	if k := min(o.probe, n/2); k > 0 {
		progress("memory: deciding the %d newest and the %d oldest approvals in turn", k, k)
		if r.Probe, err = probeCache(ctx, p.client, prefix, n, k); err != nil {
			return r, err
		}
	}
	return r, nil
}

// probeCache decides approvals k newest and k oldest, alternately, by
// Update, timing each round trip. With the sticky cache smaller than n, the
// oldest were evicted long ago: the server still sends their task to this
// worker, which fetches the whole history and replays it first.
func probeCache(ctx context.Context, c client.Client, prefix string, n, k int) (*cacheProbe, error) {
	decider := &approvals.Client{Temporal: c, Namespace: namespace}
	var newest, oldest []time.Duration
	for i := range k {
		for _, idx := range []int{n - 1 - i, i} {
			rt, _, err := decideByUpdate(ctx, c, decider, fmt.Sprintf("%s-%05d", prefix, idx))
			if err != nil {
				return nil, err
			}
			if idx == i {
				oldest = append(oldest, rt)
			} else {
				newest = append(newest, rt)
			}
		}
	}
	return &cacheProbe{Newest: summarize(newest), Oldest: summarize(oldest)}, nil
}

// fillApprovals starts n approvals in waves, each waited for until all its
// approvals are waiting. In one burst the embedded server gives its SQLite
// connection to the start calls and falls behind on the workflow tasks, then
// drains that backlog slowly: on 2 CPUs, 2,000 approvals were all waiting
// after about 220 s when started at once, after about 155 s in waves of 250
// or 500. At 10,000 a burst would also cycle through more workflows than the
// server's history cache holds (8,192).
func fillApprovals(ctx context.Context, c client.Client, prefix string, n int, o memoryOptions) error {
	lastReport := time.Now()
	for first := 0; first < n; first += o.wave {
		// Per wave, not per fill: a loaded machine fills slowly, and a
		// harness that is stuck is still told from one that is slow.
		deadline := time.Now().Add(o.timeout)
		ids, err := startApprovals(ctx, c, prefix, first, min(o.wave, n-first), o.starters)
		if err != nil {
			return err
		}
		if err := waitUntilWaiting(ctx, c, ids, deadline); err != nil {
			return err
		}
		if done := first + len(ids); done < n && time.Since(lastReport) > 30*time.Second {
			progress("memory: %d of %d approvals waiting", done, n)
			lastReport = time.Now()
		}
	}
	return nil
}

func readMemory(p *platform) (server, worker memory, postgres *float64, err error) {
	if server, err = processMemory(p.server); err != nil {
		return server, worker, nil, err
	}
	if worker, err = processMemory(p.worker); err != nil {
		return server, worker, nil, err
	}
	postgres, err = p.store.memory()
	return server, worker, postgres, err
}
