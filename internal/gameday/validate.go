package gameday

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/infraflow/infraflow/stacks"
)

// Limits that keep a game day's history and blast within reason.
const (
	maxTitle          = 200
	maxDescription    = 4000
	maxMessage        = 2000
	maxQuery          = 4000
	maxProbes         = 20
	maxFaults         = 20
	maxRollbacks      = 20
	maxRemediation    = 10
	maxAbort          = 10
	maxHTTPSamples    = 100
	maxCount          = 10000
	maxAbortCount     = 1000
	maxRateKBps       = 10_000_000
	minProbeInterval  = time.Second
	maxProbeInterval  = 5 * time.Minute
	maxLength         = 24 * time.Hour
	maxToxicDelay     = time.Hour
	maxRequestTimeout = time.Minute
	maxApprovalExpiry = 30 * 24 * time.Hour
)

var (
	// Names go into activity and toxic names: a DNS label.
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	kubeNameRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	stackRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	proxyRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelPfxRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

var signals = []string{"SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"}

// Validate checks the spec (as the GameDay workflow receives it, before or
// after WithDefaults) and returns Errors naming the field of every problem,
// or nil.
func (e Experiment) Validate() error {
	v := validator{}
	v.experiment(e.WithDefaults())
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs Errors
	// interval is the valid probe interval, 0 when it is not.
	interval time.Duration
}

func (v *validator) add(field, problem, fix string) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: problem, Fix: fix})
}

// experiment checks a spec with its defaults filled in, so what it checks
// is what runs; a default never turns a valid spec invalid.
func (v *validator) experiment(e Experiment) {
	switch title := strings.TrimSpace(e.Title); {
	case title == "":
		v.add("title", "is required", `say what the game day tests, e.g. "title": "web keeps its p95 under 300ms with 200ms of latency"`)
	case len(e.Title) > maxTitle:
		v.add("title", fmt.Sprintf("is %d characters long", len(e.Title)), fmt.Sprintf("keep it under %d; put the rest in description", maxTitle))
	}
	if len(e.Description) > maxDescription {
		v.add("description", fmt.Sprintf("is %d characters long", len(e.Description)), fmt.Sprintf("keep it under %d", maxDescription))
	}
	if d, ok := v.duration("probeInterval", e.ProbeInterval, minProbeInterval, maxProbeInterval, "10s"); ok {
		v.interval = d
	}
	if d, ok := v.duration("recoveryTimeout", e.RecoveryTimeout, minProbeInterval, maxLength, "5m"); ok && v.interval > 0 && d < v.interval {
		v.add("recoveryTimeout", fmt.Sprintf("%s is shorter than probeInterval (%s)", e.RecoveryTimeout, e.ProbeInterval),
			"give the steady state at least one probe round to return")
	}
	capValid := e.MaxBlastRadius >= 1 && e.MaxBlastRadius <= 100
	if !capValid {
		v.add("maxBlastRadius", fmt.Sprintf("is %d", e.MaxBlastRadius), "use a percentage from 1 to 100 (default 50): the largest share of a fault's targets any fault may touch")
	}
	v.approval(e.Approval, e.DryRun)

	probes := e.SteadyState.Probes
	switch {
	case len(probes) == 0:
		v.add("steadyState.probes", "lists no probes", `add at least one probe the steady state is judged by, e.g. {"kind": "http", "http": {"url": "http://127.0.0.1:8080/"}}`)
	case len(probes) > maxProbes:
		v.add("steadyState.probes", fmt.Sprintf("lists %d probes", len(probes)), fmt.Sprintf("use at most %d", maxProbes))
	}
	probeNames := v.names("steadyState.probes", len(probes), func(i int) string { return probes[i].Name })
	for i, p := range probes {
		v.probe(fmt.Sprintf("steadyState.probes[%d]", i), p)
	}

	switch {
	case len(e.Method) == 0:
		v.add("method", "lists no faults", `add the faults to inject, e.g. {"kind": "latency", "duration": "2m", "toxic": {"proxy": "app", "latency": "200ms"}}`)
	case len(e.Method) > maxFaults:
		v.add("method", fmt.Sprintf("lists %d faults", len(e.Method)), fmt.Sprintf("use at most %d", maxFaults))
	}
	faultNames := v.names("method", len(e.Method), func(i int) string { return e.Method[i].Name })
	for i, f := range e.Method {
		v.fault(fmt.Sprintf("method[%d]", i), f, e.MaxBlastRadius, capValid)
	}

	if len(e.Rollbacks) > maxRollbacks {
		v.add("rollbacks", fmt.Sprintf("lists %d rollbacks", len(e.Rollbacks)), fmt.Sprintf("use at most %d", maxRollbacks))
	}
	v.names("rollbacks", len(e.Rollbacks), func(i int) string { return e.Rollbacks[i].Name })
	undone := map[string]bool{}
	for i, r := range e.Rollbacks {
		field := fmt.Sprintf("rollbacks[%d]", i)
		v.action(field, r.Action, "rollback", []ActionKind{ActionProvisionStack, ActionConfigureHosts})
		for j, name := range r.Undoes {
			f := fmt.Sprintf("%s.undoes[%d]", field, j)
			switch {
			case name == "":
				v.add(f, "is empty", "name a fault of method: "+list(faultNames))
			case !slices.Contains(faultNames, name):
				v.add(f, fmt.Sprintf("%q is not a fault of the method", name), "name a fault of method by its name: "+list(faultNames))
			case slices.Contains(r.Undoes[:j], name):
				v.add(f, fmt.Sprintf("names %q twice", name), "name each fault once")
			}
			undone[name] = true
		}
	}
	for i, f := range e.Method {
		if knownFault(f.Kind) && !f.Undoable() && !f.SelfHealing() && f.Name != "" && !undone[f.Name] {
			v.add(fmt.Sprintf("method[%d]", i), fmt.Sprintf("%s fault %q has no undo and no rollback names it", f.Kind, f.Name),
				fmt.Sprintf(`add a rollback that puts it back and says so, e.g. {"kind": "provision-stack", "program": "local", "stack": "dev", "undoes": [%q]}`, f.Name))
		}
	}

	if len(e.Abort) > maxAbort {
		v.add("abort", fmt.Sprintf("lists %d conditions", len(e.Abort)), fmt.Sprintf("use at most %d", maxAbort))
	}
	for i, a := range e.Abort {
		v.abort(fmt.Sprintf("abort[%d]", i), a, probeNames)
	}

	if len(e.Remediation) > maxRemediation {
		v.add("remediation", fmt.Sprintf("lists %d actions", len(e.Remediation)), fmt.Sprintf("use at most %d", maxRemediation))
	}
	v.names("remediation", len(e.Remediation), func(i int) string { return e.Remediation[i].Name })
	for i, a := range e.Remediation {
		v.action(fmt.Sprintf("remediation[%d]", i), a, "remediation", []ActionKind{ActionProvisionStack, ActionConfigureHosts, ActionNotify})
	}
}

// names checks that the entries of a list have valid, distinct names and
// returns them (empty for an entry whose kind is unknown).
func (v *validator) names(field string, n int, name func(int) string) []string {
	names := make([]string, n)
	for i := range n {
		names[i] = name(i)
		switch f := fmt.Sprintf("%s[%d].name", field, i); {
		case names[i] == "":
		case !nameRE.MatchString(names[i]):
			v.add(f, fmt.Sprintf("%q is not a name", names[i]), `use lowercase letters, digits and dashes, at most 63, e.g. "slow-app"`)
		case slices.Contains(names[:i], names[i]):
			v.add(f, fmt.Sprintf("%q is used twice in %s", names[i], field), "give each entry its own name")
		}
	}
	return names
}

func (v *validator) approval(a *Approval, dryRun bool) {
	if a == nil || (len(a.Approvers) == 0 && len(a.Groups) == 0) {
		if !dryRun {
			v.add("approval", "no one may approve this game day", `name approvers or groups, e.g. "approval": {"groups": ["sre"]} (only a dry run needs none)`)
		}
		if a == nil {
			return
		}
	}
	for i, p := range a.Approvers {
		if strings.TrimSpace(p) == "" {
			v.add(fmt.Sprintf("approval.approvers[%d]", i), "is empty", "name a person")
		}
	}
	for i, g := range a.Groups {
		if strings.TrimSpace(g) == "" {
			v.add(fmt.Sprintf("approval.groups[%d]", i), "is empty", "name a group of the worker's directory")
		}
	}
	distinct := 0
	for i, p := range a.Approvers {
		if !slices.Contains(a.Approvers[:i], p) {
			distinct++
		}
	}
	switch {
	case a.Quorum < 0:
		v.add("approval.quorum", fmt.Sprintf("is %d", a.Quorum), "use a positive number of approvals (default 1)")
	case len(a.Groups) == 0 && a.Quorum > distinct && distinct > 0:
		v.add("approval.quorum", fmt.Sprintf("is %d but only %d approvers are named", a.Quorum, distinct), "lower the quorum or name more approvers")
	}
	if a.Expiry != "" {
		v.duration("approval.expiry", a.Expiry, time.Minute, maxApprovalExpiry, "24h")
	}
}

// subObject is a kind-specific part of a probe or fault: required for its
// kinds, refused for the others.
type subObject struct {
	name  string
	set   bool
	kinds []string
}

func (v *validator) kind(field, what, kind string, known []string, subs []subObject) bool {
	if kind == "" {
		v.add(field+".kind", "is required", fmt.Sprintf("say what kind of %s it is: %s", what, list(known)))
		return false
	}
	if !slices.Contains(known, kind) {
		v.add(field+".kind", fmt.Sprintf("unknown %s kind %q", what, kind), "use one of "+list(known))
		return false
	}
	for _, s := range subs {
		applies := slices.Contains(s.kinds, kind)
		switch {
		case applies && !s.set:
			v.add(field+"."+s.name, fmt.Sprintf("is required for a %s %s", kind, what), fmt.Sprintf("describe the target in %s (see internal/gameday/SPEC.md)", s.name))
		case !applies && s.set:
			v.add(field+"."+s.name, fmt.Sprintf("does not apply to a %s %s", kind, what), fmt.Sprintf("remove it, or change kind to %s", strings.Join(s.kinds, " or ")))
		}
	}
	return true
}

func (v *validator) probe(field string, p Probe) {
	known := strs(ProbeKinds())
	if !v.kind(field, "probe", string(p.Kind), known, []subObject{
		{"http", p.HTTP != nil, []string{string(ProbeHTTP)}},
		{"prometheus", p.Prometheus != nil, []string{string(ProbePrometheus)}},
		{"workload", p.Workload != nil, []string{string(ProbeAvailableReplicas)}},
		{"autoScalingGroup", p.AutoScalingGroup != nil, []string{string(ProbeASGInService)}},
	}) {
		return
	}
	switch {
	case p.Kind == ProbeHTTP && p.HTTP != nil:
		v.httpProbe(field+".http", *p.HTTP)
	case p.Kind == ProbePrometheus && p.Prometheus != nil:
		v.prometheusProbe(field+".prometheus", *p.Prometheus)
	case p.Kind == ProbeAvailableReplicas && p.Workload != nil:
		v.workloadProbe(field+".workload", *p.Workload)
	case p.Kind == ProbeASGInService && p.AutoScalingGroup != nil:
		a := *p.AutoScalingGroup
		v.groupName(field+".autoScalingGroup.name", a.Name)
		if a.MinInService < 0 || a.MinInService > maxCount {
			v.add(field+".autoScalingGroup.minInService", fmt.Sprintf("is %d", a.MinInService), "use the fewest InService instances the steady state allows, or leave it out for the desired capacity")
		}
	}
}

func (v *validator) httpProbe(field string, h HTTPProbe) {
	v.url(field+".url", h.URL, true, "http://127.0.0.1:8080/healthz")
	if h.Method != "GET" && h.Method != "HEAD" {
		v.add(field+".method", fmt.Sprintf("%q is not GET or HEAD", h.Method), "use GET (default) or HEAD: a probe must not change what it probes")
	}
	if h.Samples < 1 || h.Samples > maxHTTPSamples {
		v.add(field+".samples", fmt.Sprintf("is %d", h.Samples), fmt.Sprintf("use 1 to %d requests per round (default %d)", maxHTTPSamples, DefaultHTTPSamples))
	}
	if timeout, ok := v.duration(field+".timeout", h.Timeout, time.Millisecond, maxRequestTimeout, "2s"); ok && v.interval > 0 && timeout > v.interval {
		v.add(field+".timeout", fmt.Sprintf("%s is longer than probeInterval (%s)", h.Timeout, human(v.interval)),
			"shorten it or lengthen probeInterval: a round must be over before the next begins")
	}
	if h.Status < 100 || h.Status > 599 {
		v.add(field+".status", fmt.Sprintf("%d is not an HTTP status", h.Status), "use the status a healthy answer has, 100 to 599 (default 200)")
	}
	switch {
	case h.MaxLatency == "" && h.Percentile != 0:
		v.add(field+".percentile", "is set without maxLatency", `add the bound, e.g. "maxLatency": "300ms", or remove percentile`)
	case h.MaxLatency != "":
		v.duration(field+".maxLatency", h.MaxLatency, time.Millisecond, maxRequestTimeout, "300ms")
		if !(h.Percentile > 0 && h.Percentile <= 100) {
			v.add(field+".percentile", fmt.Sprintf("is %v", h.Percentile), "use a percentile above 0 and up to 100, e.g. 95 (the default) or 99.9")
		}
	}
}

func (v *validator) prometheusProbe(field string, p PrometheusProbe) {
	if p.Server != "" {
		v.url(field+".server", p.Server, false, "http://127.0.0.1:9095")
	}
	switch q := strings.TrimSpace(p.Query); {
	case q == "":
		v.add(field+".query", "is required", `give a PromQL expression with one result, e.g. "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))"`)
	case len(p.Query) > maxQuery:
		v.add(field+".query", fmt.Sprintf("is %d characters long", len(p.Query)), fmt.Sprintf("keep it under %d: use a recording rule", maxQuery))
	}
	if p.Min == nil && p.Max == nil {
		v.add(field, "sets neither min nor max", `bound the result, e.g. "max": 0.01 for an error ratio`)
	}
	for _, b := range []struct {
		name  string
		value *float64
	}{{"min", p.Min}, {"max", p.Max}} {
		if b.value != nil && (math.IsNaN(*b.value) || math.IsInf(*b.value, 0)) {
			v.add(field+"."+b.name, "is not a finite number", "use a number")
		}
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		v.add(field+".max", fmt.Sprintf("%v is below min %v", *p.Max, *p.Min), "no value could pass: swap them, or widen the range")
	}
}

func (v *validator) workloadProbe(field string, w WorkloadProbe) {
	if w.Kind != "deployment" && w.Kind != "statefulset" {
		v.add(field+".kind", fmt.Sprintf("unknown workload kind %q", w.Kind), "use deployment (default) or statefulset")
	}
	v.namespace(field+".namespace", w.Namespace)
	if !kubeNameRE.MatchString(w.Name) {
		v.add(field+".name", fmt.Sprintf("%q is not a Kubernetes object name", w.Name), `name the Deployment or StatefulSet, e.g. "web"`)
	}
	if w.MinAvailable < 0 || w.MinAvailable > maxCount {
		v.add(field+".minAvailable", fmt.Sprintf("is %d", w.MinAvailable), "use the fewest available replicas the steady state allows, or leave it out for all the workload desires")
	}
}

func (v *validator) fault(field string, f Fault, maxBlastRadius int, capValid bool) {
	known := strs(FaultKinds())
	if !v.kind(field, "fault", string(f.Kind), known, []subObject{
		{"toxic", f.Toxic != nil, []string{string(FaultLatency), string(FaultTimeout), string(FaultBandwidth), string(FaultResetPeer)}},
		{"pods", f.Pods != nil, []string{string(FaultPodDelete)}},
		{"process", f.Process != nil, []string{string(FaultProcessKill)}},
		{"instances", f.Instances != nil, []string{string(FaultASGTerminate)}},
	}) {
		return
	}
	v.duration(field+".start", f.Start, 0, maxLength, "30s")
	v.duration(field+".duration", f.Duration, time.Second, maxLength, "2m")
	switch {
	case f.Kind.Toxic() && f.Toxic != nil:
		v.toxic(field+".toxic", f.Kind, *f.Toxic)
	case f.Kind == FaultPodDelete && f.Pods != nil:
		p := *f.Pods
		v.namespace(field+".pods.namespace", p.Namespace)
		if problem := selectorProblem(p.Selector); problem != "" {
			v.add(field+".pods.selector", problem, `use an equality-based label selector with at least one "=" term, e.g. "app=web" or "app=web,tier!=db"`)
		}
		v.share(field+".pods", p.TargetShare, maxBlastRadius, capValid)
	case f.Kind == FaultProcessKill && f.Process != nil:
		p := *f.Process
		if p.Name == "" || len(p.Name) > 255 || strings.ContainsRune(p.Name, '/') || p.Name == "." || p.Name == ".." || hasControl(p.Name) {
			v.add(field+".process.name", fmt.Sprintf("%q is not an executable name", p.Name), `name the program as ps shows it, without a path, e.g. "sshd"`)
		}
		if !slices.Contains(signals, p.Signal) {
			v.add(field+".process.signal", fmt.Sprintf("unknown signal %q", p.Signal), "use one of "+list(signals))
		}
	case f.Kind == FaultASGTerminate && f.Instances != nil:
		in := *f.Instances
		v.groupName(field+".instances.autoScalingGroup", in.AutoScalingGroup)
		v.share(field+".instances", in.TargetShare, maxBlastRadius, capValid)
	}
}

func (v *validator) toxic(field string, kind FaultKind, t Toxic) {
	if !proxyRE.MatchString(t.Proxy) {
		v.add(field+".proxy", fmt.Sprintf("%q is not a proxy name", t.Proxy), `name the toxiproxy proxy the fault goes on, e.g. "app"`)
	}
	if t.Stream != "downstream" && t.Stream != "upstream" {
		v.add(field+".stream", fmt.Sprintf("%q is not downstream or upstream", t.Stream), "use downstream (default: data to the client) or upstream")
	}
	if !(t.Toxicity > 0 && t.Toxicity <= 1) {
		v.add(field+".toxicity", fmt.Sprintf("is %v", t.Toxicity), "use the share of connections affected, above 0 and up to 1 (default 1)")
	}
	type attribute struct {
		name string
		set  bool
	}
	attributes := []attribute{{"latency", t.Latency != ""}, {"jitter", t.Jitter != ""}, {"timeout", t.Timeout != ""}, {"rateKBps", t.RateKBps != 0}}
	takes := map[FaultKind][]string{
		FaultLatency:   {"latency", "jitter"},
		FaultTimeout:   {"timeout"},
		FaultBandwidth: {"rateKBps"},
		FaultResetPeer: {"timeout"},
	}[kind]
	for _, a := range attributes {
		if a.set && !slices.Contains(takes, a.name) {
			v.add(field+"."+a.name, fmt.Sprintf("does not apply to a %s fault", kind), fmt.Sprintf("remove it; a %s fault takes %s", kind, strings.Join(takes, " and ")))
		}
	}
	switch kind {
	case FaultLatency:
		if t.Latency == "" {
			v.add(field+".latency", "is required for a latency fault", `say how much latency to add, e.g. "latency": "200ms"`)
		} else {
			v.toxicDelay(field+".latency", t.Latency, time.Millisecond, "200ms")
		}
		if t.Jitter != "" {
			v.toxicDelay(field+".jitter", t.Jitter, 0, "50ms")
		}
	case FaultTimeout, FaultResetPeer:
		v.toxicDelay(field+".timeout", t.Timeout, 0, "5s")
	case FaultBandwidth:
		if t.RateKBps < 1 || t.RateKBps > maxRateKBps {
			v.add(field+".rateKBps", fmt.Sprintf("is %d", t.RateKBps), "give the bandwidth left in KB/s, at least 1, e.g. 100")
		}
	}
}

// toxicDelay checks a toxic's duration, which toxiproxy takes in whole
// milliseconds.
func (v *validator) toxicDelay(field string, d Duration, least time.Duration, example string) {
	if value, ok := v.duration(field, d, least, maxToxicDelay, example); ok && value%time.Millisecond != 0 {
		v.add(field, fmt.Sprintf("%s is not a whole number of milliseconds", d), "toxiproxy counts in milliseconds: round it, e.g. "+example)
	}
}

func (v *validator) share(field string, s TargetShare, maxBlastRadius int, capValid bool) {
	switch {
	case s.Count != 0 && s.Percentage != 0:
		v.add(field+".count", "is set together with percentage", "keep one: count touches that many targets, percentage that share of them")
	case s.Count == 0 && s.Percentage == 0:
		v.add(field, "sets neither count nor percentage", `say how many targets to touch, e.g. "percentage": 50 or "count": 1`)
	case s.Count < 0 || s.Count > maxCount:
		v.add(field+".count", fmt.Sprintf("is %d", s.Count), fmt.Sprintf("use 1 to %d targets", maxCount))
	case s.Percentage < 0 || s.Percentage > 100:
		v.add(field+".percentage", fmt.Sprintf("is %d", s.Percentage), "use a percentage from 1 to 100")
	case capValid && s.Percentage > maxBlastRadius:
		v.add(field+".percentage", fmt.Sprintf("%d%% is above the blast-radius cap of %d%% (maxBlastRadius)", s.Percentage, maxBlastRadius),
			"lower it, or raise maxBlastRadius if touching that many targets is intended")
	}
}

func (v *validator) action(field string, a Action, role string, allowed []ActionKind) {
	names := strs(allowed)
	switch {
	case a.Kind == "":
		v.add(field+".kind", "is required", "say what the "+role+" runs: "+list(names))
		return
	case a.Kind == ActionNotify && !slices.Contains(allowed, a.Kind):
		v.add(field+".kind", "a notify action cannot be a "+role, "a "+role+" must put something back: use "+list(names)+"; chat notices are sent anyway")
		return
	case !slices.Contains(allowed, a.Kind):
		v.add(field+".kind", fmt.Sprintf("unknown %s kind %q", role, a.Kind), "use one of "+list(names))
		return
	}
	takes := map[ActionKind][]string{
		ActionProvisionStack: {"program", "stack"},
		ActionConfigureHosts: {"input"},
		ActionNotify:         {"message"},
	}[a.Kind]
	for _, f := range []struct {
		name string
		set  bool
	}{{"program", a.Program != ""}, {"stack", a.Stack != ""}, {"input", a.hasInput()}, {"message", a.Message != ""}} {
		if f.set && !slices.Contains(takes, f.name) {
			v.add(field+"."+f.name, fmt.Sprintf("does not apply to a %s action", a.Kind), fmt.Sprintf("remove it; a %s action takes %s", a.Kind, strings.Join(takes, " and ")))
		}
	}
	switch a.Kind {
	case ActionProvisionStack:
		if _, ok := stacks.Lookup(a.Program); !ok {
			problem := fmt.Sprintf("unknown program %q", a.Program)
			if a.Program == "" {
				problem = "is required"
			}
			v.add(field+".program", problem, "name the stack's program: "+list(stacks.Names()))
		}
		if !stackRE.MatchString(a.Stack) {
			v.add(field+".stack", fmt.Sprintf("%q is not a stack name", a.Stack), `name the stack, e.g. "dev"`)
		}
	case ActionConfigureHosts:
		if !jsonObject(a.Input) {
			v.add(field+".input", "is not a ConfigureHosts input (a JSON object)",
				`give the input ConfigureHosts is started with, e.g. {"playbook": "site.yml", "inventory": {"stack": {"program": "local", "stack": "dev"}}}`)
		}
	case ActionNotify:
		if len(a.Message) > maxMessage {
			v.add(field+".message", fmt.Sprintf("is %d characters long", len(a.Message)), fmt.Sprintf("keep it under %d", maxMessage))
		}
	}
}

func (v *validator) abort(field string, a AbortCondition, probeNames []string) {
	known := []string{string(AbortConsecutiveFailures), string(AbortErrorBudget)}
	switch {
	case a.Kind == "":
		v.add(field+".kind", "is required", "say when to abort: "+list(known))
		return
	case !slices.Contains(known, string(a.Kind)):
		v.add(field+".kind", fmt.Sprintf("unknown abort condition %q", a.Kind), "use one of "+list(known))
		return
	}
	if a.Probe != "" && !slices.Contains(probeNames, a.Probe) {
		v.add(field+".probe", fmt.Sprintf("%q is not a probe of steadyState", a.Probe), "name a probe by its name ("+list(probeNames)+"), or leave it out for any probe")
	}
	switch a.Kind {
	case AbortConsecutiveFailures:
		if a.Count < 1 || a.Count > maxAbortCount {
			v.add(field+".count", fmt.Sprintf("is %d", a.Count), fmt.Sprintf("give the failed rounds in a row that abort, 1 to %d, e.g. 3", maxAbortCount))
		}
		if a.Budget != 0 {
			v.add(field+".budget", "does not apply to consecutive-failures", "remove it, or change kind to error-budget")
		}
		if a.Window != "" {
			v.add(field+".window", "does not apply to consecutive-failures", "remove it, or change kind to error-budget")
		}
	case AbortErrorBudget:
		if !(a.Budget >= 0 && a.Budget < 1) {
			v.add(field+".budget", fmt.Sprintf("is %v", a.Budget), "give the share of rounds in the window that may fail, from 0 up to but not including 1, e.g. 0.2")
		}
		if window, ok := v.duration(field+".window", a.Window, time.Second, maxLength, "2m"); ok && v.interval > 0 && window < v.interval {
			v.add(field+".window", fmt.Sprintf("%s is shorter than probeInterval (%s)", a.Window, human(v.interval)), "make the window hold at least one probe round")
		}
		if a.Count != 0 {
			v.add(field+".count", "does not apply to error-budget", "remove it, or change kind to consecutive-failures")
		}
	}
}

// duration checks a duration field and returns its value and whether it is
// valid. An empty one is "required": optional fields are checked only when set.
func (v *validator) duration(field string, d Duration, least, most time.Duration, example string) (time.Duration, bool) {
	if d == "" {
		v.add(field, "is required", fmt.Sprintf("give a duration, e.g. %q", example))
		return 0, false
	}
	value, err := time.ParseDuration(string(d))
	if err != nil {
		v.add(field, fmt.Sprintf("%q is not a duration", d), fmt.Sprintf("use Go duration syntax, e.g. %q", example))
		return 0, false
	}
	if value < least || value > most {
		v.add(field, fmt.Sprintf("%s is out of range", d), fmt.Sprintf("use %s to %s", human(least), human(most)))
		return value, false
	}
	return value, true
}

func (v *validator) url(field, raw string, pathAllowed bool, example string) {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (!pathAllowed && u.RawQuery != "") {
		v.add(field, fmt.Sprintf("%q is not an http(s) URL", raw), "e.g. "+example)
	}
}

func (v *validator) namespace(field, ns string) {
	if !namespaceRE.MatchString(ns) {
		v.add(field, fmt.Sprintf("%q is not a Kubernetes namespace name", ns), `e.g. "default" (the default)`)
	}
}

func (v *validator) groupName(field, name string) {
	if name == "" || len(name) > 255 || hasControl(name) {
		v.add(field, fmt.Sprintf("%q is not an Auto Scaling group name", name), "name the group, e.g. \"web-asg\"")
	}
}

// selectorProblem checks an equality-based label selector; set-based terms
// ("in", "notin", bare keys) are not accepted, so that what a fault touches
// is plain to whoever approves it.
func selectorProblem(selector string) string {
	if strings.TrimSpace(selector) == "" {
		return "is required"
	}
	equal := false
	for _, term := range strings.Split(selector, ",") {
		term = strings.TrimSpace(term)
		key, value, op := "", "", ""
		for _, candidate := range []string{"!=", "==", "="} {
			if k, val, found := strings.Cut(term, candidate); found {
				key, value, op = strings.TrimSpace(k), strings.TrimSpace(val), candidate
				break
			}
		}
		switch {
		case op == "":
			return fmt.Sprintf("term %q is not key=value or key!=value", term)
		case !labelKey(key):
			return fmt.Sprintf("%q is not a label key", key)
		case value != "" && !labelNameRE.MatchString(value):
			return fmt.Sprintf("%q is not a label value", value)
		}
		equal = equal || op != "!="
	}
	if !equal {
		return fmt.Sprintf("%q has no key=value term and could match almost every pod", selector)
	}
	return ""
}

func labelKey(key string) bool {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		return labelNameRE.MatchString(key)
	}
	return labelPfxRE.MatchString(prefix) && labelNameRE.MatchString(name)
}

// hasInput is false for an input left out or given as null (which JSON
// decoding keeps as the text "null").
func (a Action) hasInput() bool {
	trimmed := strings.TrimSpace(string(a.Input))
	return trimmed != "" && trimmed != "null"
}

func jsonObject(raw json.RawMessage) bool {
	trimmed := strings.TrimSpace(string(raw))
	return strings.HasPrefix(trimmed, "{") && json.Valid(raw)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

func strs[T ~string](kinds []T) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// list writes names for a message: "a, b or c".
func list(names []string) string {
	var present []string
	for _, n := range names {
		if n != "" {
			present = append(present, n)
		}
	}
	switch len(present) {
	case 0:
		return "(none)"
	case 1:
		return present[0]
	}
	return strings.Join(present[:len(present)-1], ", ") + " or " + present[len(present)-1]
}
