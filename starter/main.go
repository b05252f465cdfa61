// Command starter is infraflow's operator CLI: it launches workflows with
// validated input, follows their progress, and lists what is running.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/temporalclient"
	"github.com/infraflow/infraflow/workflows"
)

// app holds what every subcommand shares: how to reach Temporal and where.
type app struct {
	conn      temporalclient.Connection
	taskQueue string
	uiURL     string
}

func (a *app) dial() (client.Client, string, error) {
	opts, err := a.conn.Options()
	if err != nil {
		return nil, "", err
	}
	c, err := temporalclient.DialOptions(opts)
	return c, opts.Namespace, err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newRootCommand(&app{}).ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

// newRootCommand is the whole CLI, every subcommand sharing a.
func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "starter",
		Short:         "Launch and follow infraflow workflows",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	pf := root.PersistentFlags()
	a.conn.AddFlags(pf)
	// After `make dev`, the starter run from the repository finds the local
	// platform's keys without being told.
	a.conn.Encryption.FallbackFile = ".infraflow/codec-keys"
	pf.StringVar(&a.taskQueue, "task-queue", envOr("INFRAFLOW_TASK_QUEUE", "infraflow"), "task queue the worker polls (env INFRAFLOW_TASK_QUEUE)")
	pf.StringVar(&a.uiURL, "ui-url", envOr("INFRAFLOW_UI_URL", "http://127.0.0.1:8233"), "Temporal Web UI base URL, for links (env INFRAFLOW_UI_URL)")

	for _, def := range workflows.All() {
		// A game day starts from a spec file, and has its report and
		// Schedules beside it, rather than the generic --input command.
		if def.Name == gameDayWorkflow {
			root.AddCommand(a.gameDayCommand(def))
			continue
		}
		root.AddCommand(a.workflowCommand(def))
	}
	root.AddCommand(a.destroyCommand(), a.doctorCommand(), a.listCommand(),
		a.decideCommand(workflows.DecisionApprove), a.decideCommand(workflows.DecisionReject),
		a.pendingCommand(), a.auditCommand(), a.chatopsCommand(), a.keysCommand(), a.codecServerCommand())
	root.AddCommand(a.scheduleCommand(), a.reportCommand())
	return root
}

func envOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}
