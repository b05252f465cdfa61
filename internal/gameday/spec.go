// Package gameday is a chaos game day's experiment spec: its types, its
// parsing from YAML or JSON and its validation. It does no I/O and keeps no
// state: the GameDay workflow validates and reads a spec with it, and the
// chaos activities share its types. internal/gameday/SPEC.md documents the schema;
// internal/gameday/examples/ holds examples.
package gameday

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Experiment is one game day: what must hold (the steady state), what is
// broken (the method), how it is put back (undos, rollbacks, remediation),
// when it stops early (abort conditions) and how far it may reach (the
// blast-radius cap, approval, dry run).
type Experiment struct {
	// Title says what the game day tests; approval requests and reports show it.
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Approval names who may approve this game day (required unless DryRun).
	Approval *Approval `json:"approval,omitempty"`
	// ProbeInterval is the time between probe rounds (default 10s, 1s to 5m).
	ProbeInterval Duration `json:"probeInterval,omitempty"`
	// RecoveryTimeout is how long the steady state may take to return after
	// the faults are undone and the rollbacks have run, before remediation
	// runs (default 5m).
	RecoveryTimeout Duration `json:"recoveryTimeout,omitempty"`
	// MaxBlastRadius is the largest share of a fault's targets, in percent,
	// that any fault may touch (default 50, 1 to 100).
	MaxBlastRadius int `json:"maxBlastRadius,omitempty"`
	// DryRun verifies the steady state and reports what each fault would do,
	// injecting nothing.
	DryRun      bool             `json:"dryRun,omitempty"`
	SteadyState SteadyState      `json:"steadyState"`
	Method      []Fault          `json:"method"`
	Rollbacks   []Rollback       `json:"rollbacks,omitempty"`
	Abort       []AbortCondition `json:"abort,omitempty"`
	// Remediation runs, in order, when the steady state has not returned
	// within RecoveryTimeout (default: a chat notice only).
	Remediation []Action `json:"remediation,omitempty"`
}

// Approval names who may approve the game day; the GameDay workflow asks an
// Approval child workflow with them, the requester being whoever started it.
type Approval struct {
	Approvers []string `json:"approvers,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	// Quorum is how many approvals it takes (the Approval default is 1).
	Quorum int `json:"quorum,omitempty"`
	// Expiry closes an undecided request (the Approval default is 24h).
	Expiry Duration `json:"expiry,omitempty"`
}

// SteadyState is the hypothesis: every probe passes, before, during and
// after the faults.
type SteadyState struct {
	Description string  `json:"description,omitempty"`
	Probes      []Probe `json:"probes"`
}

// ProbeKind says what a probe measures.
type ProbeKind string

// Probe kinds; each reads the sub-object named in its comment.
const (
	// ProbeHTTP requests a URL: status and a latency percentile (http).
	ProbeHTTP ProbeKind = "http"
	// ProbePrometheus evaluates an instant query against bounds (prometheus).
	ProbePrometheus ProbeKind = "prometheus"
	// ProbeAvailableReplicas reads a Kubernetes workload's available
	// replicas (workload).
	ProbeAvailableReplicas ProbeKind = "available-replicas"
	// ProbeASGInService counts an AWS Auto Scaling group's InService
	// instances (autoScalingGroup).
	ProbeASGInService ProbeKind = "asg-in-service"
)

// ProbeKinds lists the probe kinds, in the order the docs give them.
func ProbeKinds() []ProbeKind {
	return []ProbeKind{ProbeHTTP, ProbePrometheus, ProbeAvailableReplicas, ProbeASGInService}
}

// Probe is one check of the steady state, run every probe interval. The
// sub-object for its kind holds the target and the tolerance; the others
// stay empty.
type Probe struct {
	// Name identifies the probe in abort conditions and reports (default
	// <kind>-<position>, e.g. "http-1").
	Name             string                 `json:"name,omitempty"`
	Kind             ProbeKind              `json:"kind"`
	HTTP             *HTTPProbe             `json:"http,omitempty"`
	Prometheus       *PrometheusProbe       `json:"prometheus,omitempty"`
	Workload         *WorkloadProbe         `json:"workload,omitempty"`
	AutoScalingGroup *AutoScalingGroupProbe `json:"autoScalingGroup,omitempty"`
}

// HTTPProbe passes when every one of Samples requests answers Status within
// Timeout and, with MaxLatency, the Percentile-th latency of the round is at
// most MaxLatency.
type HTTPProbe struct {
	URL string `json:"url"`
	// Method is GET (default) or HEAD: a probe must not change what it probes.
	Method string `json:"method,omitempty"`
	// Samples is the number of requests per round (default 10).
	Samples int `json:"samples,omitempty"`
	// Timeout of one request (default 5s, or the probe interval if shorter).
	Timeout Duration `json:"timeout,omitempty"`
	// Status is the expected response status (default 200).
	Status int `json:"status,omitempty"`
	// Percentile (default 95 when MaxLatency is set) and MaxLatency bound the
	// round's latency.
	Percentile float64  `json:"percentile,omitempty"`
	MaxLatency Duration `json:"maxLatency,omitempty"`
}

// PrometheusProbe passes when Query returns exactly one sample and its
// value lies within [Min, Max] (either bound may be left out, not both).
type PrometheusProbe struct {
	// Server is the Prometheus base URL; empty means the worker's default
	// (the worker refuses servers it was not configured with).
	Server string   `json:"server,omitempty"`
	Query  string   `json:"query"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// WorkloadProbe passes when the workload has at least MinAvailable
// available replicas, or, with MinAvailable 0, all it desires.
type WorkloadProbe struct {
	// Kind is deployment (default) or statefulset.
	Kind         string `json:"kind,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Name         string `json:"name"`
	MinAvailable int    `json:"minAvailable,omitempty"`
}

// AutoScalingGroupProbe passes when the group has at least MinInService
// InService instances, or, with MinInService 0, its desired capacity.
type AutoScalingGroupProbe struct {
	Name         string `json:"name"`
	MinInService int    `json:"minInService,omitempty"`
}

// FaultKind says what a fault breaks.
type FaultKind string

// Fault kinds. The toxiproxy kinds read the fault's toxic; the others read
// the sub-object named in their comment.
const (
	// FaultLatency delays data through a proxy (toxic.latency, toxic.jitter).
	FaultLatency FaultKind = "latency"
	// FaultTimeout stops data through a proxy, closing connections after
	// toxic.timeout (0s: held open until the fault is undone).
	FaultTimeout FaultKind = "timeout"
	// FaultBandwidth limits a proxy to toxic.rateKBps.
	FaultBandwidth FaultKind = "bandwidth"
	// FaultResetPeer resets connections through a proxy (TCP RST) after
	// toxic.timeout; toxiproxy calls it reset_peer.
	FaultResetPeer FaultKind = "reset-peer"
	// FaultPodDelete deletes pods matching a label selector (pods).
	FaultPodDelete FaultKind = "pod-delete"
	// FaultProcessKill signals processes by name (process).
	FaultProcessKill FaultKind = "process-kill"
	// FaultASGTerminate terminates instances of an Auto Scaling group without
	// lowering its desired capacity (instances).
	FaultASGTerminate FaultKind = "asg-terminate"
)

// FaultKinds lists the fault kinds, in the order the docs give them.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultLatency, FaultTimeout, FaultBandwidth, FaultResetPeer, FaultPodDelete, FaultProcessKill, FaultASGTerminate}
}

// Toxic reports whether the kind is a toxiproxy toxic.
func (k FaultKind) Toxic() bool {
	switch k {
	case FaultLatency, FaultTimeout, FaultBandwidth, FaultResetPeer:
		return true
	}
	return false
}

// Undoable reports whether infraflow can take the fault back by itself: a
// toxic is removed from its proxy.
func (k FaultKind) Undoable() bool { return k.Toxic() }

// SelfHealing reports whether the platform replaces what the fault removed
// with nothing for infraflow to undo: a deleted pod's controller recreates
// it, an Auto Scaling group replaces a terminated instance (its desired
// capacity is left as it was). The steady-state probes judge whether that
// happened within the recovery timeout.
func (k FaultKind) SelfHealing() bool { return k == FaultPodDelete || k == FaultASGTerminate }

// Fault is one thing the method breaks, from Start after the method begins,
// for Duration. The sub-object for its kind names the target; the others
// stay empty.
type Fault struct {
	// Name identifies the fault: rollbacks name it in undoes, and the workflow
	// records its undo under it before injecting (default
	// <kind>-<position>, e.g. "latency-1").
	Name string    `json:"name,omitempty"`
	Kind FaultKind `json:"kind"`
	// Start is when the fault is injected, after the method begins (default 0s).
	Start Duration `json:"start,omitempty"`
	// Duration is how long the fault holds: a toxic is removed when it ends;
	// for a pod delete, process kill or instance termination (done at once)
	// it is how long the method watches before the fault counts as over.
	Duration  Duration           `json:"duration"`
	Toxic     *Toxic             `json:"toxic,omitempty"`
	Pods      *PodSelection      `json:"pods,omitempty"`
	Process   *ProcessTarget     `json:"process,omitempty"`
	Instances *InstanceSelection `json:"instances,omitempty"`
}

// ID is the fault's stable identity: its name, set by WithDefaults when the
// spec leaves it out.
func (f Fault) ID() string { return f.Name }

// Undoable reports whether infraflow takes the fault back by itself when it
// ends or the game day stops (see FaultKind.Undoable).
func (f Fault) Undoable() bool { return f.Kind.Undoable() }

// SelfHealing reports whether the platform restores what the fault removed
// (see FaultKind.SelfHealing).
func (f Fault) SelfHealing() bool { return f.Kind.SelfHealing() }

// End is when the fault is over, after the method begins.
func (f Fault) End() time.Duration { return f.Start.Value() + f.Duration.Value() }

// Toxic is a toxiproxy toxic on a named proxy. Which of Latency, Jitter,
// Timeout and RateKBps apply depends on the fault's kind.
type Toxic struct {
	Proxy string `json:"proxy"`
	// Stream is downstream (default: data to the client) or upstream.
	Stream string `json:"stream,omitempty"`
	// Toxicity is the share of connections affected, in (0, 1] (default 1).
	Toxicity float64  `json:"toxicity,omitempty"`
	Latency  Duration `json:"latency,omitempty"`
	Jitter   Duration `json:"jitter,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
	RateKBps int      `json:"rateKBps,omitempty"`
}

// TargetShare says how many of the matching targets a fault touches: a
// Count or a Percentage, not both.
type TargetShare struct {
	Count      int `json:"count,omitempty"`
	Percentage int `json:"percentage,omitempty"`
}

// Pick is how many of matched targets to touch, refusing what the
// blast-radius cap (a percentage) forbids. A count can only be checked
// against the cap here, once the targets are known.
func (s TargetShare) Pick(matched, maxBlastRadius int) (int, error) {
	if matched <= 0 {
		return 0, fmt.Errorf("no target matches")
	}
	n := s.Count
	if s.Percentage > 0 {
		n = matched * s.Percentage / 100
		if n == 0 {
			return 0, fmt.Errorf("%d%% of %d targets is less than one; raise the percentage or use a count", s.Percentage, matched)
		}
	}
	switch {
	case n <= 0:
		return 0, fmt.Errorf("neither a count nor a percentage is set")
	case n > matched:
		return 0, fmt.Errorf("count %d is more than the %d targets that match", n, matched)
	case n*100 > maxBlastRadius*matched:
		return 0, fmt.Errorf("%d of %d targets is %.0f%%, above the blast-radius cap of %d%%", n, matched, float64(n)*100/float64(matched), maxBlastRadius)
	}
	return n, nil
}

// PodSelection picks pods to delete: those in Namespace (default "default")
// matching Selector, an equality-based label selector ("app=web,tier!=db")
// with at least one "=" term, so that it cannot match every pod.
type PodSelection struct {
	Namespace string `json:"namespace,omitempty"`
	Selector  string `json:"selector"`
	TargetShare
}

// ProcessTarget names the processes a process kill signals: every process
// of the worker's machine with that executable name that the worker's
// configuration allows it to signal.
type ProcessTarget struct {
	Name string `json:"name"`
	// Signal is SIGKILL (default), SIGTERM, SIGINT, SIGHUP or SIGQUIT.
	Signal string `json:"signal,omitempty"`
}

// InstanceSelection picks instances of an Auto Scaling group to terminate.
type InstanceSelection struct {
	AutoScalingGroup string `json:"autoScalingGroup"`
	TargetShare
}

// ActionKind says what a rollback or remediation action runs.
type ActionKind string

// Action kinds.
const (
	// ActionProvisionStack runs ProvisionStack (up) on Program/Stack with the
	// configuration the stack had when the game day began.
	ActionProvisionStack ActionKind = "provision-stack"
	// ActionConfigureHosts runs ConfigureHosts with Input, a ConfigureHosts
	// workflow input.
	ActionConfigureHosts ActionKind = "configure-hosts"
	// ActionNotify posts Message to the chat channel (remediation only).
	ActionNotify ActionKind = "notify"
)

// Action is something a rollback or a remediation runs.
type Action struct {
	// Name identifies the action in the record (default <kind>-<position>).
	Name    string     `json:"name,omitempty"`
	Kind    ActionKind `json:"kind"`
	Program string     `json:"program,omitempty"`
	Stack   string     `json:"stack,omitempty"`
	// Input is a ConfigureHosts input, checked by the workflow that runs it
	// (this package cannot see the workflows' types).
	Input   json.RawMessage `json:"input,omitempty"`
	Message string          `json:"message,omitempty"`
}

// Rollback is an explicit action run after the method, also when the game
// day is aborted, cancelled or fails. Undoes names the faults it takes back:
// a fault with no undo of its own (a process kill) must be named by one.
type Rollback struct {
	Action
	Undoes []string `json:"undoes,omitempty"`
}

// AbortKind says when a game day stops early.
type AbortKind string

// Abort condition kinds.
const (
	// AbortConsecutiveFailures aborts after Count probe rounds in a row failed.
	AbortConsecutiveFailures AbortKind = "consecutive-failures"
	// AbortErrorBudget aborts when more than Budget (a share) of the probe
	// rounds within the last Window failed.
	AbortErrorBudget AbortKind = "error-budget"
)

// AbortCondition stops the method early, undoing every fault, when the
// probes breach it. A round fails when Probe (or, with no probe named, any
// probe) fails.
type AbortCondition struct {
	Kind   AbortKind `json:"kind"`
	Probe  string    `json:"probe,omitempty"`
	Count  int       `json:"count,omitempty"`
	Budget float64   `json:"budget,omitempty"`
	Window Duration  `json:"window,omitempty"`
}

// Duration is a Go duration string ("30s", "2m"), as a person types it.
type Duration string

// Value is the duration; zero when it is empty or invalid (Validate refuses
// invalid ones, WithDefaults fills the empty ones that have a default).
func (d Duration) Value() time.Duration {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0
	}
	return v
}

// Defaults.
const (
	DefaultProbeInterval   = 10 * time.Second
	DefaultRecoveryTimeout = 5 * time.Minute
	DefaultMaxBlastRadius  = 50
	DefaultHTTPSamples     = 10
	DefaultHTTPTimeout     = 5 * time.Second
	DefaultHTTPStatus      = 200
	DefaultPercentile      = 95
	DefaultAbortCount      = 3
)

// WithDefaults returns the experiment with every default filled in: names,
// intervals, the cap, probe and fault settings, an abort condition
// (3 consecutive failed rounds) and a remediation (a chat notice) when none
// is given. The workflow records the result once, so a later release that
// changes a default does not change a running game day. Applying it twice
// changes nothing.
func (e Experiment) WithDefaults() Experiment {
	if e.ProbeInterval == "" {
		e.ProbeInterval = Duration(human(DefaultProbeInterval))
	}
	if e.RecoveryTimeout == "" {
		e.RecoveryTimeout = Duration(human(DefaultRecoveryTimeout))
	}
	if e.MaxBlastRadius == 0 {
		e.MaxBlastRadius = DefaultMaxBlastRadius
	}
	e.SteadyState.Probes = cloneEach(e.SteadyState.Probes, func(i int, p *Probe) {
		p.Name = defaultName(p.Name, string(p.Kind), i, knownProbe(p.Kind))
		p.withDefaults(e.ProbeInterval.Value())
	})
	e.Method = cloneEach(e.Method, func(i int, f *Fault) {
		f.Name = defaultName(f.Name, string(f.Kind), i, knownFault(f.Kind))
		f.withDefaults()
	})
	e.Rollbacks = cloneEach(e.Rollbacks, func(i int, r *Rollback) {
		r.Name = defaultName(r.Name, string(r.Kind), i, knownAction(r.Kind))
		r.Undoes = append([]string(nil), r.Undoes...)
	})
	e.Remediation = cloneEach(e.Remediation, func(i int, a *Action) {
		a.Name = defaultName(a.Name, string(a.Kind), i, knownAction(a.Kind))
	})
	if len(e.Remediation) == 0 {
		e.Remediation = []Action{{Name: string(ActionNotify) + "-1", Kind: ActionNotify}}
	}
	if len(e.Abort) == 0 {
		e.Abort = []AbortCondition{{Kind: AbortConsecutiveFailures, Count: DefaultAbortCount}}
	} else {
		e.Abort = append([]AbortCondition(nil), e.Abort...)
	}
	return e
}

func (p *Probe) withDefaults(interval time.Duration) {
	if h := p.HTTP; h != nil {
		c := *h
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.Samples == 0 {
			c.Samples = DefaultHTTPSamples
		}
		if c.Timeout == "" {
			timeout := DefaultHTTPTimeout
			if interval > 0 && interval < timeout {
				timeout = interval
			}
			c.Timeout = Duration(human(timeout))
		}
		if c.Status == 0 {
			c.Status = DefaultHTTPStatus
		}
		if c.Percentile == 0 && c.MaxLatency != "" {
			c.Percentile = DefaultPercentile
		}
		p.HTTP = &c
	}
	if w := p.Workload; w != nil {
		c := *w
		if c.Kind == "" {
			c.Kind = "deployment"
		}
		if c.Namespace == "" {
			c.Namespace = "default"
		}
		p.Workload = &c
	}
	if m := p.Prometheus; m != nil {
		c := *m
		p.Prometheus = &c
	}
	if a := p.AutoScalingGroup; a != nil {
		c := *a
		p.AutoScalingGroup = &c
	}
}

func (f *Fault) withDefaults() {
	if f.Start == "" {
		f.Start = "0s"
	}
	if t := f.Toxic; t != nil {
		c := *t
		if c.Stream == "" {
			c.Stream = "downstream"
		}
		if c.Toxicity == 0 {
			c.Toxicity = 1
		}
		if (f.Kind == FaultTimeout || f.Kind == FaultResetPeer) && c.Timeout == "" {
			c.Timeout = "0s"
		}
		f.Toxic = &c
	}
	if p := f.Pods; p != nil {
		c := *p
		if c.Namespace == "" {
			c.Namespace = "default"
		}
		f.Pods = &c
	}
	if p := f.Process; p != nil {
		c := *p
		if c.Signal == "" {
			c.Signal = "SIGKILL"
		}
		f.Process = &c
	}
	if in := f.Instances; in != nil {
		c := *in
		f.Instances = &c
	}
}

// cloneEach copies a list and adjusts each copy, so that WithDefaults never
// writes through to the caller's slices.
func cloneEach[T any](list []T, adjust func(int, *T)) []T {
	if list == nil {
		return nil
	}
	out := append([]T(nil), list...)
	for i := range out {
		adjust(i, &out[i])
	}
	return out
}

// defaultName is <kind>-<position>; an unknown kind gets no name, so that
// the error about the kind is not followed by one about a made-up name.
func defaultName(name, kind string, index int, known bool) string {
	if name != "" || !known {
		return name
	}
	return fmt.Sprintf("%s-%d", kind, index+1)
}

func knownProbe(k ProbeKind) bool {
	for _, known := range ProbeKinds() {
		if k == known {
			return true
		}
	}
	return false
}

func knownFault(k FaultKind) bool {
	for _, known := range FaultKinds() {
		if k == known {
			return true
		}
	}
	return false
}

func knownAction(k ActionKind) bool {
	return k == ActionProvisionStack || k == ActionConfigureHosts || k == ActionNotify
}

// MethodLength is how long the method runs: until the last fault ends.
func (e Experiment) MethodLength() time.Duration {
	var longest time.Duration
	for _, f := range e.Method {
		longest = max(longest, f.End())
	}
	return longest
}

// Describe says in words what the fault does, for approval requests and
// reports.
func (f Fault) Describe() string {
	var what string
	switch t := f.Toxic; {
	case f.Kind.Toxic() && t != nil:
		switch f.Kind {
		case FaultLatency:
			what = fmt.Sprintf("add %s latency", t.Latency)
			if t.Jitter.Value() > 0 {
				what += fmt.Sprintf(" (±%s jitter)", t.Jitter)
			}
		case FaultTimeout:
			what = "stop data"
			if t.Timeout.Value() > 0 {
				what += fmt.Sprintf(" and close connections after %s", t.Timeout)
			}
		case FaultBandwidth:
			what = fmt.Sprintf("limit bandwidth to %d KB/s", t.RateKBps)
		case FaultResetPeer:
			what = "reset connections"
			if t.Timeout.Value() > 0 {
				what += fmt.Sprintf(" after %s", t.Timeout)
			}
		}
		what += fmt.Sprintf(" on proxy %s", t.Proxy)
		if t.Stream != "" {
			what += " (" + t.Stream + ")"
		}
		if t.Toxicity > 0 && t.Toxicity < 1 {
			what += fmt.Sprintf(" for %.0f%% of connections", t.Toxicity*100)
		}
	case f.Kind == FaultPodDelete && f.Pods != nil:
		what = fmt.Sprintf("delete %s of the pods %s in namespace %s", f.Pods.describe(), f.Pods.Selector, orDefault(f.Pods.Namespace, "default"))
	case f.Kind == FaultProcessKill && f.Process != nil:
		what = fmt.Sprintf("send %s to processes named %s", orDefault(f.Process.Signal, "SIGKILL"), f.Process.Name)
	case f.Kind == FaultASGTerminate && f.Instances != nil:
		what = fmt.Sprintf("terminate %s of the instances of Auto Scaling group %s", f.Instances.describe(), f.Instances.AutoScalingGroup)
	default:
		what = string(f.Kind)
	}
	return fmt.Sprintf("%s: %s at +%s for %s", f.Name, what, orDefault(string(f.Start), "0s"), f.Duration)
}

func (s TargetShare) describe() string {
	if s.Percentage > 0 {
		return fmt.Sprintf("%d%%", s.Percentage)
	}
	return fmt.Sprintf("%d", s.Count)
}

// Summary says in words what the game day will do, one fault a line, for
// the approval request.
func (e Experiment) Summary() string {
	var b strings.Builder
	if e.DryRun {
		b.WriteString("Dry run: nothing is injected.\n")
	}
	fmt.Fprintf(&b, "%s every %s; blast radius at most %d%%; recovery within %s.\n",
		count(len(e.SteadyState.Probes), "probe"), orDefault(string(e.ProbeInterval), human(DefaultProbeInterval)),
		orDefaultInt(e.MaxBlastRadius, DefaultMaxBlastRadius), orDefault(string(e.RecoveryTimeout), human(DefaultRecoveryTimeout)))
	for _, f := range e.Method {
		b.WriteString("- " + f.Describe() + "\n")
	}
	return b.String()
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func orDefaultInt(n, fallback int) int {
	if n == 0 {
		return fallback
	}
	return n
}

// human writes a duration as a person would: "5m", not "5m0s".
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
