// Package activities holds every side effect infraflow performs. Activities act
// and report; the decisions stay in workflows.
package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/ansiblerun"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/pulumistack"
)

// Activities carries what the activities need from the worker process.
type Activities struct {
	// Temporal is the worker's own client, used to report on the server.
	Temporal client.Client
	// Identity is the worker's identity, as its activities' histories name it;
	// a stack's hold records it.
	Identity string
	// Directory resolves approver groups into people.
	Directory *directory.Directory
	// ChatWebhookURL receives approval notices (Slack incoming-webhook format);
	// empty posts nothing.
	ChatWebhookURL string
	// Pulumi says where stacks keep their state and which cluster the local
	// stack deploys to.
	Pulumi pulumistack.Env
	// PlaybooksDir holds the only playbooks ConfigureHosts runs, by name.
	PlaybooksDir string
	// SecretRoots are the files, directories and environment variables that
	// secret references and host key files may point to.
	SecretRoots ansiblerun.SecretRoots
	// Scale is what forecast-and-scale ticks may query and scale; game day
	// probes and faults reach the same Prometheus, cluster and AWS.
	Scale ScaleConfig
	// Chaos is what game days may break besides.
	Chaos ChaosConfig
}

// Registry is the part of a worker (or test environment) activities register with.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers every activity method of a under the name of its
// reference in internal/activityref, through which workflows call it. A method
// whose signature differs from its reference's does not compile here.
func Register(r Registry, a *Activities) {
	register(r, activityref.PlaceStack, a.PlaceStack)
	register(r, activityref.PreviewStack, a.PreviewStack)
	register2(r, activityref.ApplyStack, a.ApplyStack)
	register(r, activityref.VerifyStack, a.VerifyStack)
	register(r, activityref.CheckPolicy, a.CheckPolicy)

	register2(r, activityref.PreparePlaybook, a.PreparePlaybook)
	register(r, activityref.RunPlaybook, a.RunPlaybook)

	register(r, activityref.ResolveApprovers, a.ResolveApprovers)
	register(r, activityref.ResolveDeciders, a.ResolveDeciders)
	registerNoResult(r, activityref.NotifyApproval, a.NotifyApproval)

	register(r, activityref.CheckTool, a.CheckTool)

	register(r, activityref.FetchMetrics, a.FetchMetrics)
	register(r, activityref.ForecastDemand, a.ForecastDemand)
	register(r, activityref.ReadReplicas, a.ReadReplicas)
	register(r, activityref.ApplyReplicas, a.ApplyReplicas)

	register(r, activityref.RunProbes, a.RunProbes)
	register(r, activityref.InjectFault, a.InjectFault)
	register(r, activityref.UndoFault, a.UndoFault)
	register(r, activityref.WriteGameDayReport, a.WriteGameDayReport)
	registerNoResult(r, activityref.NotifyChat, a.NotifyChat)
	register(r, activityref.LastGoodConfig, a.LastGoodConfig)
}

func register[In, Out any](r Registry, ref activityref.Activity[In, Out], fn func(context.Context, In) (Out, error)) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: ref.Name()})
}

func register2[In1, In2, Out any](r Registry, ref activityref.Activity2[In1, In2, Out], fn func(context.Context, In1, In2) (Out, error)) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: ref.Name()})
}

func registerNoResult[In any](r Registry, ref activityref.NoResult[In], fn func(context.Context, In) error) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: ref.Name()})
}
