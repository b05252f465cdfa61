package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/ansiblerun"
	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/internal/pulumistack"
)

// PreparePlaybook checks everything that can be checked without touching a
// host: the playbook exists and passes --syntax-check, the extra vars and
// secrets are variables the playbook's roles declare, with the declared
// types, the secrets can be read, and the inventory resolves.
func (a *Activities) PreparePlaybook(ctx context.Context, req playbook.Request, inv playbook.Inventory) (playbook.Prepared, error) {
	var out playbook.Prepared
	path, err := ansiblerun.ResolvePlaybook(a.PlaybooksDir, req.Playbook)
	if err != nil {
		return out, invalidConfiguration(err)
	}
	// The name, not this worker's path: the run may happen on another worker.
	out.Playbook = filepath.Clean(req.Playbook)
	if out.Hosts, err = a.inventoryHosts(ctx, inv); err != nil {
		return out, err
	}
	if err := ansiblerun.CheckHosts("inventory.hosts", out.Hosts, a.keyRoots()); err != nil {
		return out, invalidConfiguration(err)
	}
	declared, err := ansiblerun.DeclaredVars(path)
	if err != nil {
		return out, invalidConfiguration(err)
	}
	if err := ansiblerun.CheckVars("extraVars", req.ExtraVars, declared); err != nil {
		return out, invalidConfiguration(err)
	}
	secretVars := map[string]any{}
	for name := range req.Secrets {
		secretVars[name] = ""
	}
	if err := ansiblerun.CheckVars("secrets", secretVars, declared); err != nil {
		return out, invalidConfiguration(err)
	}
	if _, err := a.SecretRoots.ResolveSecrets(req.Secrets, req.VaultPassword); err != nil {
		return out, invalidConfiguration(err)
	}
	dir, err := os.MkdirTemp("", "infraflow-syntax-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	inventory := filepath.Join(dir, "inventory.json")
	if err := ansiblerun.WriteInventory(inventory, out.Hosts); err != nil {
		return out, err
	}
	if err := ansiblerun.SyntaxCheck(ctx, path, inventory); err != nil {
		return out, invalidConfiguration(err)
	}
	return out, nil
}

// inventoryHosts lists the hosts to configure; a stack's come from its
// "hosts" output (name, address, port, user, privateKeyPath, root, appPort,
// hostKey), as the local program exports them.
func (a *Activities) inventoryHosts(ctx context.Context, inv playbook.Inventory) ([]playbook.Host, error) {
	if inv.Stack == nil {
		return inv.Hosts, nil
	}
	outputs, err := a.Pulumi.Outputs(ctx, *inv.Stack)
	if errors.Is(err, pulumistack.ErrNoStack) {
		return nil, invalidConfiguration(&ansiblerun.InputError{Field: "inventory.stack",
			Problem: fmt.Sprintf("stack %s does not exist", inv.Stack), Fix: "provision it first, or list the hosts in inventory.hosts"})
	}
	if err != nil {
		return nil, err
	}
	list, _ := outputs["hosts"].([]any)
	if len(list) == 0 {
		return nil, invalidConfiguration(&ansiblerun.InputError{Field: "inventory.stack",
			Problem: fmt.Sprintf("stack %s has no hosts in its outputs", inv.Stack),
			Fix:     "provision it with hosts (config hosts > 0) first, or list the hosts in inventory.hosts"})
	}
	var hosts []playbook.Host
	for _, item := range list {
		m, _ := item.(map[string]any)
		str := func(k string) string { s, _ := m[k].(string); return s }
		num := func(k string) int { f, _ := m[k].(float64); return int(f) }
		h := playbook.Host{Name: str("name"), Address: str("address"), Port: num("port"), User: str("user"),
			PrivateKeyPath: str("privateKeyPath"), Root: str("root"), HostKey: str("hostKey")}
		if port := num("appPort"); port != 0 {
			h.Vars = map[string]any{"app_port": port}
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// RunPlaybook runs the playbook in the request's mode. Every task event is a
// heartbeat (and a progress signal to the workflow); cancelling the activity
// stops ansible-playbook. Host failures are in the report, not errors.
func (a *Activities) RunPlaybook(ctx context.Context, req playbook.Request) (playbook.Report, error) {
	// The same checks as PreparePlaybook: the worker trusts no caller.
	path, err := ansiblerun.ResolvePlaybook(a.PlaybooksDir, ansiblerun.PlaybookName(a.PlaybooksDir, req.Playbook))
	if err != nil {
		return playbook.Report{}, invalidConfiguration(err)
	}
	if err := ansiblerun.CheckHosts("inventory.hosts", req.Hosts, a.keyRoots()); err != nil {
		return playbook.Report{}, invalidConfiguration(err)
	}
	if err := ansiblerun.CheckUntrustedVars("extraVars", req.ExtraVars); err != nil {
		return playbook.Report{}, invalidConfiguration(err)
	}
	if err := ansiblerun.CheckLimit("limit", req.Limit, req.Hosts); err != nil {
		return playbook.Report{}, invalidConfiguration(err)
	}
	secrets, err := a.SecretRoots.ResolveSecrets(req.Secrets, req.VaultPassword)
	if err != nil {
		return playbook.Report{}, invalidConfiguration(err)
	}
	info := activity.GetInfo(ctx)
	var mu sync.Mutex
	var latest playbook.Event
	lastSignal := time.Time{}
	onEvent := func(e playbook.Event) {
		mu.Lock()
		latest = e
		signal := time.Since(lastSignal) > 500*time.Millisecond || e.Host == ""
		if signal {
			lastSignal = time.Now()
		}
		mu.Unlock()
		activity.RecordHeartbeat(ctx, e)
		if signal {
			// The progress query shows the current task; a lost signal only
			// delays the next one.
			_ = a.Temporal.SignalWorkflow(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, playbook.ProgressSignal, e)
		}
	}
	stop := heartbeatEvery(ctx, 5*time.Second, func() any { mu.Lock(); defer mu.Unlock(); return latest })
	defer stop()
	if pids := ansiblerun.StopOrphanedForks(); len(pids) > 0 {
		activity.GetLogger(ctx).Warn("Stopped ansible-playbook forks a killed worker left behind", "pids", pids)
	}
	report, err := ansiblerun.Execute(ctx, ansiblerun.Run{
		Playbook: path, Hosts: req.Hosts, Limit: req.Limit, Mode: req.Mode,
		ExtraVars: req.ExtraVars, Secrets: secrets, OnEvent: onEvent,
	})
	if err != nil {
		return report, err
	}
	activity.GetLogger(ctx).Info("Playbook run finished", "mode", req.Mode, "tasks", report.Tasks, "hosts", summary(report))
	return report, nil
}

// keyRoots are where host key files may be: the secret roots, and the hosts
// the local stack runs (their keys come from the worker's own stack state).
func (a *Activities) keyRoots() ansiblerun.SecretRoots {
	roots := a.SecretRoots
	if a.Pulumi.StateDir != "" {
		roots.Paths = append(slices.Clone(roots.Paths), filepath.Join(a.Pulumi.StateDir, "hosts"))
	}
	return roots
}

func summary(r playbook.Report) map[string]string {
	out := map[string]string{}
	for _, h := range r.Hosts {
		out[h.Host] = h.Status
	}
	return out
}

func invalidConfiguration(err error) error {
	var ie *ansiblerun.InputError
	if errors.As(err, &ie) {
		return temporal.NewNonRetryableApplicationError(ie.Error(), playbook.ErrTypeInvalidConfiguration, nil)
	}
	return err
}
