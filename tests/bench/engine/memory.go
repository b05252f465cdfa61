package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
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
	// KiB of RSS each waiting approval adds, above the idle process.
	ServerKiBPerApproval float64 `json:"serverKiBPerApproval"`
	WorkerKiBPerApproval float64 `json:"workerKiBPerApproval"`
}

type memoryOptions struct {
	starters int
	wave     int
	// settle is the quiet time before each reading, so that it is what holding
	// the approvals costs, not what starting them did.
	settle  time.Duration
	timeout time.Duration
}

// measureMemory expects a fresh platform, so that exactly n approvals are
// held and the idle reading is the same processes before any work.
func measureMemory(ctx context.Context, p *platform, n int, o memoryOptions) (memoryResult, error) {
	r := memoryResult{Approvals: n, Wave: o.wave, Starters: o.starters}
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	var err error
	if r.ServerIdle, r.WorkerIdle, err = readMemory(p); err != nil {
		return r, err
	}

	begin := time.Now()
	if err := fillApprovals(ctx, p.client, fmt.Sprintf("bench-memory-%d", n), n, o); err != nil {
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
	if r.Server, r.Worker, err = readMemory(p); err != nil {
		return r, err
	}
	r.ServerKiBPerApproval = (r.Server.RSSMiB - r.ServerIdle.RSSMiB) * 1024 / float64(n)
	r.WorkerKiBPerApproval = (r.Worker.RSSMiB - r.WorkerIdle.RSSMiB) * 1024 / float64(n)
	return r, nil
}

// fillApprovals starts n approvals in waves, each waited for until all its
// approvals are waiting. In one burst the embedded server gives its SQLite
// connection to the start calls and falls behind on the workflow tasks, then
// drains that backlog slowly: on 2 CPUs, 2,000 approvals were all waiting
// after about 220 s when started at once, after about 155 s in waves of 250
// or 500. At 10,000 a burst would also cycle through more workflows than the
// server's history cache holds (8,192).
func fillApprovals(ctx context.Context, c client.Client, prefix string, n int, o memoryOptions) error {
	deadline := time.Now().Add(o.timeout)
	lastReport := time.Now()
	for first := 0; first < n; first += o.wave {
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

func readMemory(p *platform) (server, worker memory, err error) {
	if server, err = processMemory(p.server); err != nil {
		return server, worker, err
	}
	worker, err = processMemory(p.worker)
	return server, worker, err
}
