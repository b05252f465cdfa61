package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/activityref"
	"github.com/infraflow/infraflow/internal/playbook"
)

// Outcomes of ConfigureHosts.
const (
	ConfigureSucceeded     = "succeeded"
	ConfigureChecked       = "checked"
	ConfigureRejected      = "rejected"
	ConfigureNotIdempotent = "not-idempotent"
	ConfigureFailed        = "failed"
)

// ErrTypeConfigurationFailed is the failure type when hosts are still failed
// or unreachable after every attempt; the details carry the ConfigureResult.
const ErrTypeConfigurationFailed = "ConfigurationFailed"

// PlannedHost is what check mode says a host would get.
type PlannedHost struct {
	Host         string   `json:"host"`
	Status       string   `json:"status"`
	ChangedTasks []string `json:"changedTasks,omitempty"`
	ChangedPaths []string `json:"changedPaths,omitempty"`
	Message      string   `json:"message,omitempty"`
}

// HostOutcome is where a host ended up.
type HostOutcome struct {
	Host string `json:"host"`
	// Status is the host's final apply status: changed, ok, failed or unreachable.
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	OK       int    `json:"ok"`
	Changed  int    `json:"changed"`
	// History lists the status of every attempt, e.g. [unreachable, changed].
	History    []string `json:"history"`
	FailedTask string   `json:"failedTask,omitempty"`
	Message    string   `json:"message,omitempty"`
	// NotIdempotent names tasks that changed again on the idempotency run.
	NotIdempotent []string `json:"notIdempotent,omitempty"`
	// Verified is whether the playbook's verify tasks passed.
	Verified bool `json:"verified"`
}

// ConfigureResult reports the run host by host.
type ConfigureResult struct {
	Playbook  string          `json:"playbook"`
	Status    string          `json:"status"`
	Reason    string          `json:"reason,omitempty"`
	Planned   []PlannedHost   `json:"planned"`
	Approval  *ApprovalStatus `json:"approval,omitempty"`
	Hosts     []HostOutcome   `json:"hosts,omitempty"`
	Protected []string        `json:"protectedPathsChanged,omitempty"`
}

// configureProgress is the progress query's answer: the phase and current
// task, and the per-host plan once check mode has run.
type configureProgress struct {
	Progress
	Planned []PlannedHost `json:"planned,omitempty"`
	Hosts   []HostOutcome `json:"hosts,omitempty"`
}

type configureState struct {
	progress configureProgress
	result   ConfigureResult
	outcomes map[string]*HostOutcome
}

// ConfigureHosts runs a playbook the way a careful operator would: check
// mode first, approval when asked or when protected paths would change,
// apply, retry only the hosts that failed or were unreachable, run again to
// prove nothing changes, and verify.
func ConfigureHosts(ctx workflow.Context, in ConfigureInput) (ConfigureResult, error) {
	s := &configureState{result: ConfigureResult{Playbook: in.Playbook}, outcomes: map[string]*HostOutcome{}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (configureProgress, error) { return s.progress, nil }); err != nil {
		return s.result, err
	}
	events := workflow.GetSignalChannel(ctx, playbook.ProgressSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var e playbook.Event
			events.Receive(ctx, &e)
			s.progress.Current = e.Task
			s.progress.Done = e.TasksStarted
		}
	})

	s.progress.Phase = "prepare"
	if in.Inventory.Stack != nil {
		// The hosts of a host-bound stack, and their keys, are at its site.
		var err error
		if ctx, err = onStackSite(ctx, *in.Inventory.Stack); err != nil {
			return s.result, err
		}
	}
	req := in.request()
	prepared, err := prepare(ctx, req, in.Inventory)
	if err != nil {
		return s.result, err
	}
	names := playbook.Names(prepared.Hosts)
	for i, name := range in.Limit {
		if !slices.Contains(names, name) {
			return s.result, invalidInput(&FieldError{Field: fmt.Sprintf("limit[%d]", i), Problem: fmt.Sprintf("host %q is not in the inventory", name),
				Fix: "use hosts of the inventory: " + strings.Join(names, ", ")})
		}
	}
	targets := names
	if len(in.Limit) > 0 {
		targets = slices.Clone(in.Limit)
		sort.Strings(targets)
	}
	req.Playbook, req.Hosts = prepared.Playbook, prepared.Hosts

	s.progress.Phase = "check"
	check, err := runPlaybook(ctx, req, playbook.Check, targets)
	if err != nil {
		return s.result, err
	}
	for _, h := range check.Hosts {
		s.result.Planned = append(s.result.Planned, PlannedHost{Host: h.Host, Status: h.Status, ChangedTasks: h.ChangedTasks, ChangedPaths: h.ChangedPaths, Message: h.Message})
	}
	s.progress.Planned = s.result.Planned
	if in.CheckOnly {
		s.result.Status = ConfigureChecked
		s.progress.Phase = "done"
		return s.result, nil
	}

	if reasons := approvalReasons(in, check); len(reasons) > 0 {
		s.progress.Phase = "waiting for approval"
		approval, err := requestConfigureApproval(ctx, in, s.result, reasons)
		if err != nil {
			return s.result, err
		}
		s.result.Approval = &approval
		if approval.Status != ApprovalApproved {
			s.result.Status = ConfigureRejected
			s.result.Reason = fmt.Sprintf("approval %s by %s: %s; no host was changed", approval.Status, approval.ClosedBy, approval.Reason)
			s.progress.Phase = "done"
			return s.result, nil
		}
	}

	s.progress.Total = check.Tasks
	succeeded, err := s.apply(ctx, in, req, targets)
	if err != nil {
		return s.result, err
	}
	if len(succeeded) > 0 {
		s.progress = configureProgress{Progress: Progress{Phase: "idempotency run", Total: check.Tasks}, Planned: s.result.Planned}
		again, err := runPlaybook(ctx, req, playbook.Apply, succeeded)
		if err != nil {
			return s.result, err
		}
		for _, h := range again.Hosts {
			if o := s.targetOutcome(ctx, h.Host); o != nil && h.Changed > 0 {
				o.NotIdempotent = h.ChangedTasks
			}
		}
		s.progress.Phase = "verify"
		verified, err := runPlaybook(ctx, req, playbook.Verify, succeeded)
		if err != nil {
			return s.result, err
		}
		for _, h := range verified.Hosts {
			if o := s.targetOutcome(ctx, h.Host); o != nil {
				o.Verified = h.Status == playbook.StatusOK
			}
		}
	}
	return s.finish(targets)
}

// apply runs the playbook, then again on the hosts that failed or were
// unreachable, with a growing wait, until all succeed or attempts run out.
func (s *configureState) apply(ctx workflow.Context, in ConfigureInput, req playbook.Request, targets []string) ([]string, error) {
	interval, _ := parseDuration(in.retryInterval(), 10*time.Second)
	pending := targets
	for attempt := 1; ; attempt++ {
		s.progress.Phase = fmt.Sprintf("apply (attempt %d of %d, %d hosts)", attempt, in.attempts(), len(pending))
		s.progress.Done, s.progress.Current = 0, ""
		rep, err := runPlaybook(ctx, req, playbook.Apply, pending)
		if err != nil {
			return nil, err
		}
		var retry []string
		for _, name := range pending {
			o, ok := s.outcomes[name]
			if !ok {
				o = &HostOutcome{Host: name}
				s.outcomes[name] = o
			}
			o.Attempts = attempt
			r, ran := rep.Host(name)
			if !ran {
				// A host in no play of the playbook is left as it was.
				r = playbook.HostResult{Host: name, Status: playbook.StatusOK}
			}
			o.Status, o.OK, o.Changed, o.FailedTask, o.Message = r.Status, r.OK, r.Changed, r.FailedTask, r.Message
			o.History = append(o.History, r.Status)
			if r.Status == playbook.StatusFailed || r.Status == playbook.StatusUnreachable {
				retry = append(retry, name)
			}
		}
		s.progress.Hosts = s.outcomeList(targets)
		if len(retry) == 0 || attempt >= in.attempts() {
			break
		}
		s.progress.Phase = fmt.Sprintf("waiting %s to retry %s", interval, strings.Join(retry, ", "))
		if err := workflow.Sleep(ctx, interval); err != nil {
			return nil, err
		}
		interval *= 2
		pending = retry
	}
	var ok []string
	for _, name := range targets {
		if st := s.outcomes[name].Status; st == playbook.StatusOK || st == playbook.StatusChanged {
			ok = append(ok, name)
		}
	}
	return ok, nil
}

// targetOutcome is the outcome of a host the run targeted. A report can name
// other hosts (a play's delegate_to, an inventory alias): they are not ours to
// judge, and must not stop the workflow.
func (s *configureState) targetOutcome(ctx workflow.Context, host string) *HostOutcome {
	o, ok := s.outcomes[host]
	if !ok {
		workflow.GetLogger(ctx).Warn("Ignoring a host the run did not target", "host", host)
	}
	return o
}

// outcomeList lists the outcomes of the targets (sorted) that have one.
func (s *configureState) outcomeList(targets []string) []HostOutcome {
	var out []HostOutcome
	for _, name := range targets {
		if o, ok := s.outcomes[name]; ok {
			out = append(out, *o)
		}
	}
	return out
}

func (s *configureState) finish(targets []string) (ConfigureResult, error) {
	s.result.Hosts = s.outcomeList(targets)
	s.progress.Hosts = s.result.Hosts
	s.progress.Phase = "done"
	var failed, unverified, notIdempotent []string
	for _, o := range s.result.Hosts {
		switch {
		case o.Status == playbook.StatusFailed || o.Status == playbook.StatusUnreachable:
			failed = append(failed, fmt.Sprintf("%s (%s at %q: %s)", o.Host, o.Status, o.FailedTask, o.Message))
		case len(o.NotIdempotent) > 0:
			notIdempotent = append(notIdempotent, fmt.Sprintf("%s: %s", o.Host, strings.Join(o.NotIdempotent, ", ")))
		case !o.Verified:
			unverified = append(unverified, o.Host)
		}
	}
	switch {
	case len(failed) > 0:
		s.result.Status = ConfigureFailed
		s.result.Reason = fmt.Sprintf("%d of %d hosts not configured: %s", len(failed), len(targets), strings.Join(failed, "; "))
		return s.result, temporal.NewNonRetryableApplicationError(s.result.Reason, ErrTypeConfigurationFailed, nil, s.result)
	case len(notIdempotent) > 0:
		s.result.Status = ConfigureNotIdempotent
		s.result.Reason = "tasks changed again on the idempotency run: " + strings.Join(notIdempotent, "; ")
	case len(unverified) > 0:
		s.result.Status = ConfigureFailed
		s.result.Reason = "verify tasks failed on " + strings.Join(unverified, ", ")
		return s.result, temporal.NewNonRetryableApplicationError(s.result.Reason, ErrTypeConfigurationFailed, nil, s.result)
	default:
		s.result.Status = ConfigureSucceeded
	}
	return s.result, nil
}

// prepare checks the request on the worker; what is wrong with it is bad
// input, reported as such.
func prepare(ctx workflow.Context, req playbook.Request, inv playbook.Inventory) (playbook.Prepared, error) {
	prepared, err := activityref.PreparePlaybook.Run(safeToRetry(ctx, 5*time.Minute), req, inv)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == playbook.ErrTypeInvalidConfiguration {
		return prepared, invalidInput(errors.New(appErr.Message()))
	}
	return prepared, err
}

func prepareConfiguration(ctx workflow.Context, in ConfigureInput, inv playbook.Inventory) error {
	_, err := prepare(ctx, in.request(), inv)
	return err
}

// runPlaybook runs one ansible-playbook with heartbeats; a killed worker's
// run is noticed within the heartbeat timeout and started again (the
// playbook is idempotent), and cancelling the workflow stops ansible-playbook.
func runPlaybook(ctx workflow.Context, req playbook.Request, mode playbook.Mode, limit []string) (playbook.Report, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    20 * time.Second,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{playbook.ErrTypeInvalidConfiguration}},
	})
	req.Mode, req.Limit = mode, limit
	return activityref.RunPlaybook.Run(ctx, req)
}

// approvalReasons says why a person must approve, if anyone must.
func approvalReasons(in ConfigureInput, check playbook.Report) []string {
	var reasons []string
	if in.Approval != nil && in.Approval.Always {
		reasons = append(reasons, "the request asks for approval")
	}
	for _, h := range check.Hosts {
		if hit := in.Approval.protected(h.ChangedPaths); len(hit) > 0 {
			reasons = append(reasons, fmt.Sprintf("%s would change protected paths %s", h.Host, strings.Join(hit, ", ")))
		}
	}
	return reasons
}

func requestConfigureApproval(ctx workflow.Context, in ConfigureInput, r ConfigureResult, reasons []string) (ApprovalStatus, error) {
	var plan strings.Builder
	for _, h := range r.Planned {
		plan.WriteString(h.Host + ": " + h.Status + "\n")
		for _, t := range h.ChangedTasks {
			plan.WriteString("  ~ " + t + "\n")
		}
		for _, p := range h.ChangedPaths {
			plan.WriteString("    " + p + "\n")
		}
	}
	var settings *ProvisionApproval
	if in.Approval != nil {
		settings = &in.Approval.ProvisionApproval
	}
	return askApproval(ctx, fmt.Sprintf("configure %d hosts with %s", len(r.Planned), in.Playbook), reasons, plan.String(), settings, in.Requester, in.RequesterSignature)
}
