package workflows

import (
	"context"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/stackop"
)

// A host-bound stack's operations go to the queue of the site PlaceStack
// names; the policy check, which any worker can do, may go there too, but the
// approval (a child workflow) stays on the workflow's queue.
func TestStackOperationsRunAtTheStackSite(t *testing.T) {
	p := &planScript{policy: stackop.PolicyAllow, previews: []stackop.PreviewResult{previewOf("sha256:aa", scaleTo8)}}
	env := p.env(t)
	onActivity(env, activityref.PlaceStack, func(_ context.Context, ref stackop.Ref) (stackop.Placement, error) {
		if ref != (stackop.Ref{Program: "local", Stack: "web"}) {
			t.Errorf("placed %v", ref)
		}
		return stackop.Placement{Site: "machine-b", TaskQueue: "infraflow@machine-b"}, nil
	})
	queues := map[string]string{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		queues[info.ActivityType.Name] = info.TaskQueue
	})
	env.ExecuteWorkflow(ProvisionStack, ProvisionInput{Program: "local", Stack: "web", Requester: "dave", Config: map[string]any{"image": "nginx:1.27", "replicas": 8}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"PreviewStack", "ApplyStack", "VerifyStack"} {
		if queues[name] != "infraflow@machine-b" {
			t.Errorf("%s ran on %q, want the site's queue infraflow@machine-b (all: %v)", name, queues[name], queues)
		}
	}
	if queues["PlaceStack"] == "infraflow@machine-b" {
		t.Errorf("PlaceStack ran on the site's queue: it decides the site, so it runs on the shared one")
	}
}
