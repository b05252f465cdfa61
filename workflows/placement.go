package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
)

// hostBoundStacksChange sends a host-bound stack's operations to its site's
// task queue (PlaceStack), where its hosts live, instead of any worker of
// the shared queue: a worker of another machine would find neither the
// hosts nor their keys, and create them again.
const hostBoundStacksChange = "host-bound-stacks"

// onStackSite returns ctx with its activities on the queue where the
// stack's operations run. A host-bound stack's work waits there for its
// site's worker, however long that takes: no other machine can do it.
func onStackSite(ctx workflow.Context, ref stackop.Ref) (workflow.Context, error) {
	if workflow.GetVersion(ctx, hostBoundStacksChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx, nil
	}
	placed, err := activityref.PlaceStack.Run(safeToRetry(ctx, time.Minute), ref)
	if err != nil || placed.TaskQueue == "" {
		return ctx, err
	}
	return workflow.WithTaskQueue(ctx, placed.TaskQueue), nil
}
