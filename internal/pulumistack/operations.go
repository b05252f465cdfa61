package pulumistack

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/infraflow/infraflow/internal/procs"
	"github.com/infraflow/infraflow/internal/stackop"
)

// Preview plans an update (refresh first, so drift counts as a change). With
// a savePlan path it saves the update plan there (pulumi preview --save-plan).
func Preview(ctx context.Context, stack auto.Stack, savePlan string) (stackop.Plan, error) {
	return plan(stack, "preview", false, func(ch chan events.EngineEvent) error {
		opts := []optpreview.Option{optpreview.EventStreams(ch), optpreview.Refresh()}
		if savePlan != "" {
			opts = append(opts, optpreview.Plan(savePlan))
		}
		_, err := stack.Preview(ctx, opts...)
		return err
	})
}

// PreviewDestroy plans a destroy.
func PreviewDestroy(ctx context.Context, stack auto.Stack) (stackop.Plan, error) {
	return plan(stack, "destroy preview", false, func(ch chan events.EngineEvent) error {
		_, err := stack.PreviewDestroy(ctx, optdestroy.EventStreams(ch))
		return err
	})
}

// PreviewRefresh reports drift: what a refresh would change in the state.
func PreviewRefresh(ctx context.Context, stack auto.Stack) (stackop.Plan, error) {
	return plan(stack, "refresh preview", true, func(ch chan events.EngineEvent) error {
		_, err := stack.PreviewRefresh(ctx, optrefresh.EventStreams(ch))
		return err
	})
}

// plan runs one kind of preview and collects its steps.
func plan(stack auto.Stack, what string, refresh bool, run func(chan events.EngineEvent) error) (stackop.Plan, error) {
	ch := make(chan events.EngineEvent)
	collected := collectChanges(ch, refresh)
	if err := run(ch); err != nil {
		settle(collected)
		return stackop.Plan{}, fmt.Errorf("%s of %s: %w", what, stack.Name(), err)
	}
	return stackop.NewPlan(<-collected), nil
}

// Up applies the program, reporting progress as resources finish. With a
// plan path the engine runs only the steps of that saved plan (pulumi up
// --plan) and stops with ErrPlanViolated at the first other one.
func Up(ctx context.Context, stack auto.Stack, total int, report func(stackop.Progress), plan string) (map[string]any, error) {
	ch := make(chan events.EngineEvent)
	done := trackProgress(ch, total, report)
	opts := []optup.Option{optup.EventStreams(ch), optup.Refresh()}
	if plan != "" {
		opts = append(opts, optup.Plan(plan))
	}
	res, err := stack.Up(ctx, opts...)
	if err != nil && strings.Contains(err.Error(), "is not allowed by the plan") {
		settle(done)
		return nil, fmt.Errorf("up of %s: %w: %s", stack.Name(), ErrPlanViolated, planViolation(err.Error()))
	}
	if err != nil {
		settle(done)
		return nil, fmt.Errorf("up of %s: %w", stack.Name(), err)
	}
	<-done
	return plainOutputs(res.Outputs), nil
}

// Destroy removes every resource of the stack, reporting progress.
func Destroy(ctx context.Context, stack auto.Stack, total int, report func(stackop.Progress)) error {
	ch := make(chan events.EngineEvent)
	done := trackProgress(ch, total, report)
	_, err := stack.Destroy(ctx, optdestroy.EventStreams(ch), optdestroy.Refresh())
	if err != nil {
		settle(done)
		return fmt.Errorf("destroy of %s: %w", stack.Name(), err)
	}
	<-done
	return nil
}

// ErrPlanViolated is an up the engine stopped at a step its plan lacks.
var ErrPlanViolated = errors.New("a step is not in the saved plan")

// planViolation picks the engine's lines about the plan out of its output.
func planViolation(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "not allowed by the plan") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines, "; ")
}

// settle waits a little for an event reader after a failed operation: when
// the operation fails before the engine starts, the SDK never closes the
// event channel, and waiting for it would hang.
func settle[T any](done <-chan T) {
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Outputs returns the stack's current outputs.
func Outputs(ctx context.Context, stack auto.Stack) (map[string]any, error) {
	out, err := stack.Outputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("outputs of %s: %w", stack.Name(), err)
	}
	return plainOutputs(out), nil
}

// State is what the stack's state says besides its outputs: how many
// resources it holds and which operations it records as in flight.
type State struct {
	// Resources counts the resources beyond the stack itself and providers.
	Resources int
	// Pending lists the operations in flight, as "<type> <urn>".
	Pending []string
}

// ReadState reads the stack's state once and both counts from it.
func (e Env) ReadState(ctx context.Context, ref stackop.Ref) (State, error) {
	dep, err := e.readDeployment(ctx, ref)
	if err != nil {
		return State{}, err
	}
	return stateOf(dep), nil
}

func stateOf(dep apitype.DeploymentV3) State {
	var st State
	for _, r := range dep.Resources {
		if t := string(r.Type); t != "pulumi:pulumi:Stack" && !strings.HasPrefix(t, "pulumi:providers:") {
			st.Resources++
		}
	}
	for _, op := range dep.PendingOperations {
		st.Pending = append(st.Pending, fmt.Sprintf("%s %s", op.Type, op.Resource.URN))
	}
	return st
}

// Recover makes a stack usable after a run that was killed. The caller holds
// the stack, so no live worker operates on it: it stops an orphaned pulumi
// process of this machine still working on the stack (a CLI started by an
// earlier release, which did not die with its worker), removes the locks
// whose writers are provably gone, and clears the operations the state
// recorded as in flight. Whatever those operations did is found again by the
// refresh that every operation here starts with, and the provider adopts
// objects that already exist, so nothing is created twice. It returns what it
// had to do, and the state it leaves.
func (e Env) Recover(ctx context.Context, stack auto.Stack, ref stackop.Ref, hold *Hold) ([]string, State, error) {
	var did []string
	if pids := orphans(stack.Name()); len(pids) > 0 {
		did = append(did, fmt.Sprintf("waited for orphaned pulumi processes %v", pids))
		deadline := time.Now().Add(30 * time.Second)
		for len(orphans(stack.Name())) > 0 && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
		}
		for _, pid := range orphans(stack.Name()) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			did = append(did, fmt.Sprintf("killed orphaned pulumi process %d", pid))
		}
	}
	// A pulumi CLI killed with the worker leaves its plugins running (make
	// soak found a provider outliving every run): they serve nobody.
	for _, pid := range orphanedPlugins(procs.List(), e.backendURL(), procs.Environ) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		did = append(did, fmt.Sprintf("killed orphaned pulumi plugin process %d", pid))
	}
	broke, err := e.breakOrphanedLocks(ctx, ref, hold)
	did = append(did, broke...)
	if err != nil {
		return did, State{}, err
	}
	dep, err := e.readDeployment(ctx, ref)
	if err != nil {
		return did, State{}, err
	}
	if len(dep.PendingOperations) > 0 {
		for _, op := range dep.PendingOperations {
			did = append(did, fmt.Sprintf("cleared pending %s of %s", op.Type, op.Resource.URN))
		}
		dep.PendingOperations = nil
		raw, err := json.Marshal(dep)
		if err != nil {
			return did, State{}, err
		}
		if err := stack.Import(ctx, apitype.UntypedDeployment{Version: 3, Deployment: raw}); err != nil {
			return did, State{}, fmt.Errorf("importing the state of %s without its pending operations: %w", stack.Name(), err)
		}
	}
	return did, stateOf(dep), nil
}

// pulumiLock is what the DIY backend writes in a lock.
type pulumiLock struct {
	PID      int    `json:"pid"`
	Hostname string `json:"hostname"`
}

// LockedError is a Pulumi lock on a stack whose writer may still be alive:
// it is not infraflow's to break.
type LockedError struct {
	Stack, Key string
	Lock       pulumiLock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("stack %s is locked by pulumi process %d on host %s, which no infraflow worker holds and which may still be running: it is left alone; once that process is gone, `pulumi cancel` removes the lock (%s)",
		e.Stack, e.Lock.PID, e.Lock.Hostname, e.Key)
}

// breakOrphanedLocks removes the stack's Pulumi locks whose writers are
// provably gone: a process of this machine that no longer runs, or one of the
// machine whose worker held the stack last and died holding it (its CLI died
// with it). Any other lock is someone's live operation.
func (e Env) breakOrphanedLocks(ctx context.Context, ref stackop.Ref, hold *Hold) ([]string, error) {
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return nil, err
	}
	// DIY backend layout: .pulumi/locks/<org>/<project>/<stack>/<id>.json
	keys, err := s.list(ctx, ".pulumi/locks/")
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var did []string
	for _, key := range keys {
		parts := strings.Split(key, "/")
		if len(parts) != 6 || parts[3] != projectOf(ref) || parts[4] != ref.Stack || !strings.HasSuffix(key, ".json") {
			continue
		}
		raw, err := s.read(ctx, key)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return did, err
		}
		var lock pulumiLock
		_ = json.Unmarshal(raw, &lock)
		switch {
		case lock.Hostname == host && isLivePulumi(lock.PID):
			return did, &LockedError{Stack: ref.String(), Key: key, Lock: lock}
		case lock.Hostname == host:
			did = append(did, fmt.Sprintf("removed the lock of pulumi process %d, which is gone", lock.PID))
		case hold != nil && hold.Previous != nil && hold.Previous.Host == lock.Hostname:
			did = append(did, fmt.Sprintf("removed the lock of pulumi process %d on %s, whose worker %s died holding the stack", lock.PID, lock.Hostname, hold.Previous.Identity))
		default:
			return did, &LockedError{Stack: ref.String(), Key: key, Lock: lock}
		}
		if err := s.remove(ctx, key); err != nil {
			return did, fmt.Errorf("removing %s: %w", key, err)
		}
	}
	return did, nil
}

// readDeployment reads the stack's latest deployment from the backend's
// checkpoint, as `pulumi stack export` prints it but without a CLI run (most
// of a CPU-second; every activity reads the state at least once). A stack
// with no checkpoint yet has an empty deployment.
func (e Env) readDeployment(ctx context.Context, ref stackop.Ref) (apitype.DeploymentV3, error) {
	var dep apitype.DeploymentV3
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return dep, err
	}
	// DIY backend layout: .pulumi/stacks/<project>/<stack>.json, or .json.gz
	// when the backend compresses.
	base := ".pulumi/stacks/" + projectOf(ref) + "/" + ref.Stack
	data, err := s.read(ctx, base+".json")
	if errors.Is(err, os.ErrNotExist) {
		if data, err = s.read(ctx, base+".json.gz"); err == nil {
			data, err = gunzip(data)
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return dep, nil
	}
	if err != nil {
		return dep, fmt.Errorf("reading the state of %s: %w", ref, err)
	}
	var versioned apitype.VersionedCheckpoint
	if err := json.Unmarshal(data, &versioned); err != nil {
		return dep, fmt.Errorf("reading the state of %s: %w", ref, err)
	}
	if versioned.Version != 3 {
		return dep, fmt.Errorf("the state of %s is checkpoint version %d; this worker reads version 3", ref, versioned.Version)
	}
	var checkpoint apitype.CheckpointV3
	if err := json.Unmarshal(versioned.Checkpoint, &checkpoint); err != nil {
		return dep, fmt.Errorf("reading the state of %s: %w", ref, err)
	}
	if checkpoint.Latest != nil {
		dep = *checkpoint.Latest
	}
	return dep, nil
}

func gunzip(data []byte) ([]byte, error) {
	z, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// orphans finds pulumi CLI processes working on the stack whose parent has
// died (adopted by init), left by a worker that was killed.
func orphans(stackName string) []int {
	var pids []int
	for _, p := range procs.List() {
		if len(p.Args) == 0 || path.Base(p.Args[0]) != "pulumi" || !containsStack(p.Args, stackName) {
			continue
		}
		if p.PPID == os.Getpid() {
			continue // ours, not an orphan
		}
		pids = append(pids, p.PID)
	}
	sort.Ints(pids)
	return pids
}

// orphanedPlugins finds Pulumi plugin processes (pulumi-resource-*,
// pulumi-language-*) of this backend's operations whose pulumi CLI
// is gone: a live operation's plugins are children of its CLI.
func orphanedPlugins(list []procs.Process, backendURL string, environ func(pid int) []string) []int {
	parents := map[int]procs.Process{}
	for _, p := range list {
		parents[p.PID] = p
	}
	backend := "PULUMI_BACKEND_URL=" + backendURL
	var pids []int
	for _, p := range list {
		if len(p.Args) == 0 {
			continue
		}
		name := path.Base(p.Args[0])
		if !strings.HasPrefix(name, "pulumi-resource-") && !strings.HasPrefix(name, "pulumi-language-") {
			continue
		}
		if parent, ok := parents[p.PPID]; ok && len(parent.Args) > 0 && path.Base(parent.Args[0]) == "pulumi" {
			continue
		}
		if slices.Contains(environ(p.PID), backend) {
			pids = append(pids, p.PID)
		}
	}
	sort.Ints(pids)
	return pids
}

// isLivePulumi says whether pid is a running pulumi CLI (not a process that
// took a dead one's pid).
func isLivePulumi(pid int) bool {
	p, ok := procs.Get(pid)
	return ok && p.State != "Z" && len(p.Args) > 0 && path.Base(p.Args[0]) == "pulumi"
}

func containsStack(args []string, stackName string) bool {
	for i, a := range args {
		if (a == "--stack" || a == "-s") && i+1 < len(args) && strings.HasSuffix(args[i+1], "/"+stackName) {
			return true
		}
		if v, ok := strings.CutPrefix(a, "--stack="); ok && strings.HasSuffix(v, "/"+stackName) {
			return true
		}
	}
	return false
}

// collectChanges gathers the planned steps. A refresh announces every step as
// "refresh" and reports its outcome (same, update, delete) only when it ends,
// so refreshes are read from the outputs events.
func collectChanges(ch <-chan events.EngineEvent, refresh bool) <-chan []stackop.Change {
	out := make(chan []stackop.Change, 1)
	go func() {
		var changes []stackop.Change
		for ev := range ch {
			var m apitype.StepEventMetadata
			switch {
			case !refresh && ev.ResourcePreEvent != nil:
				m = ev.ResourcePreEvent.Metadata
			case refresh && ev.ResOutputsEvent != nil:
				m = ev.ResOutputsEvent.Metadata
			default:
				continue
			}
			if m.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(m.Type, "pulumi:providers:") {
				continue
			}
			c := stackop.Change{Op: string(m.Op), Type: m.Type, Name: urnName(m.URN), Diffs: m.Diffs}
			if m.Old != nil {
				c.Old = m.Old.Inputs
			}
			if m.New != nil {
				c.New = m.New.Inputs
			}
			changes = append(changes, c)
		}
		out <- changes
	}()
	return out
}

func trackProgress(ch <-chan events.EngineEvent, total int, report func(stackop.Progress)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := stackop.Progress{Total: total}
		for ev := range ch {
			switch {
			case ev.ResourcePreEvent != nil && counts(ev.ResourcePreEvent.Metadata):
				p.Current = string(ev.ResourcePreEvent.Metadata.Op) + " " + urnName(ev.ResourcePreEvent.Metadata.URN)
			case ev.ResOutputsEvent != nil && counts(ev.ResOutputsEvent.Metadata):
				p.Done++
				p.Total = max(p.Total, p.Done)
				p.Current = ""
			default:
				continue
			}
			report(p)
		}
	}()
	return done
}

// counts says whether a step is one of the stack's own resources changing.
func counts(m apitype.StepEventMetadata) bool {
	return m.Op != apitype.OpSame && m.Op != apitype.OpRead && m.Op != apitype.OpRefresh &&
		m.Type != "pulumi:pulumi:Stack" && !strings.HasPrefix(m.Type, "pulumi:providers:")
}

func urnName(urn string) string {
	return urn[strings.LastIndex(urn, "::")+2:]
}

func plainOutputs(out auto.OutputMap) map[string]any {
	plain := map[string]any{}
	for k, v := range out {
		if v.Secret {
			plain[k] = "[secret]"
			continue
		}
		plain[k] = v.Value
	}
	return plain
}

func randomSuffix() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Refresh updates the state from the live infrastructure.
func Refresh(ctx context.Context, stack auto.Stack) error {
	if _, err := stack.Refresh(ctx); err != nil {
		return fmt.Errorf("refresh of %s: %w", stack.Name(), err)
	}
	return nil
}
