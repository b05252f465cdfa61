// Package activities holds every side effect infraflow performs. Activities act
// and report; the decisions stay in workflows.
package activities

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/ansiblerun"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/pulumistack"
)

// Activities carries what the activities need from the worker process.
type Activities struct {
	// Temporal is the worker's own client, used to report on the server.
	Temporal client.Client
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
	// Scale is what forecast-and-scale ticks may query and scale.
	Scale ScaleConfig
}

// Registry is the part of a worker (or test environment) activities register with.
type Registry interface {
	RegisterActivity(a any)
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers every activity method of a under its method name.
func Register(r Registry, a *Activities) {
	r.RegisterActivity(a)
}
