package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/searchattr"
	"github.com/infraflow/infraflow/workflows"
)

const (
	// describers bounds the DescribeWorkflowExecution calls that check whether
	// approvals are waiting, so the check does not crowd out the engine's work.
	describers = 20
	// tailSample is how many of the last-started approvals stand for all of
	// them until they are waiting.
	tailSample = 100
)

// startApprovals starts approvals prefix-first .. prefix-(first+count-1).
func startApprovals(ctx context.Context, c client.Client, prefix string, first, count, starters int) ([]string, error) {
	ids := make([]string, count)
	err := forEach(ctx, count, starters, func(ctx context.Context, i int) error {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, first+i)
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: benchQueue}, "Approval",
			workflows.ApprovalInput{
				Title:            fmt.Sprintf("benchmark approval %d", first+i),
				Requester:        "dave",
				Approvers:        []string{"alice", "bob"},
				Quorum:           1,
				Expiry:           "24h",
				ReminderInterval: "0s",
			})
		if err != nil {
			return fmt.Errorf("starting approval %s: %w", ids[i], err)
		}
		return nil
	})
	return ids, err
}

// waitUntilWaiting returns once every approval is parked on its expiry timer.
// An approval on its way there always has a workflow task or an activity
// pending (ResolveApprovers, then NotifyApproval, each followed by a workflow
// task), so "running with neither" leaves no gap to be fooled by. Describe
// reads the server only: unlike a query it does not make the worker replay.
//
// The last-started approvals are, give or take, the last to get there, so
// they are watched alone until they are waiting; only then is every approval
// checked. Describing every one on every round would compete with the engine
// for its one SQLite connection, slowing down the very thing waited for.
func waitUntilWaiting(ctx context.Context, c client.Client, ids []string, deadline time.Time) error {
	if err := waitAllWaiting(ctx, c, ids[max(0, len(ids)-tailSample):], len(ids), deadline); err != nil {
		return err
	}
	return waitAllWaiting(ctx, c, ids, len(ids), deadline)
}

// waitAllWaiting checks ids and then, once a second, only those still busy.
func waitAllWaiting(ctx context.Context, c client.Client, ids []string, total int, deadline time.Time) error {
	left := ids
	for {
		var mu sync.Mutex
		var busy []string
		err := forEach(ctx, len(left), describers, func(ctx context.Context, i int) error {
			waiting, err := isWaiting(ctx, c, left[i])
			if err == nil && !waiting {
				mu.Lock()
				busy = append(busy, left[i])
				mu.Unlock()
			}
			return err
		})
		if err != nil || len(busy) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d approvals still not waiting for a decision by the deadline (--settle-timeout; e.g. %s)", len(busy), total, busy[0])
		}
		left = busy
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func isWaiting(ctx context.Context, c client.Client, id string) (bool, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return false, fmt.Errorf("describing approval %s: %w", id, err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return false, fmt.Errorf("approval %s is %s, want it running and waiting for a decision", id, st)
	}
	return len(d.GetPendingActivities()) == 0 && d.GetPendingWorkflowTask() == nil, nil
}

// checkPendingCount cross-checks, through visibility as `starter approval
// pending` sees it, that exactly n approvals are open; visibility lags the
// workflows a little, hence the retries.
func checkPendingCount(ctx context.Context, c client.Client, n int) error {
	query := fmt.Sprintf("%s = '%s' AND ExecutionStatus = 'Running'", searchattr.ApprovalState.GetName(), workflows.ApprovalPending)
	var count int64
	for range 30 {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return fmt.Errorf("counting pending approvals (%s): %w", query, err)
		}
		if count = resp.GetCount(); count == int64(n) {
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("visibility counts %d pending approvals, want %d (%s)", count, n, query)
}
