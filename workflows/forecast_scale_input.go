package workflows

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/stacks"
)

// ForecastScaleInput is one forecast-and-scale loop: where demand comes from,
// what to scale, the guardrails, and the mode. A Schedule starts one tick
// (one ForecastScale run) with it every interval.
type ForecastScaleInput struct {
	Metrics ScaleMetrics           `json:"metrics"`
	Target  scaleop.ScaleTargetRef `json:"target"`
	Policy  ScalePolicy            `json:"policy"`
	// Mode is "apply" (default): decide and apply; "forecast-only": decide and
	// record, never apply; "reactive": no forecast, the HPA-style rule alone.
	Mode string `json:"mode,omitempty"`
	// Approval says who approves a step larger than policy.approvalStep.
	Approval *ScaleApproval `json:"approval,omitempty"`
}

// ScaleMetrics is the demand series in Prometheus.
type ScaleMetrics struct {
	// Prometheus is the server's base URL; empty means the worker's default
	// (the worker refuses servers it was not configured with).
	Prometheus string `json:"prometheus,omitempty"`
	// Query is a PromQL expression giving one series of demand.
	Query string `json:"query"`
	// Step between samples (default "1m"), Window of history each tick reads
	// (default "6h", at most 11000 steps), Season the daily season's length
	// (default "24h"; shorter for a trace replayed in accelerated time).
	Step   string `json:"step,omitempty"`
	Window string `json:"window,omitempty"`
	Season string `json:"season,omitempty"`
	// Coverage of the prediction interval (default 0.8).
	Coverage float64 `json:"coverage,omitempty"`
}

// ScalePolicy is scaling.Policy with durations written as Go durations.
type ScalePolicy struct {
	MinReplicas              int     `json:"minReplicas"`
	MaxReplicas              int     `json:"maxReplicas"`
	MaxStepUp                int     `json:"maxStepUp,omitempty"`
	MaxStepDown              int     `json:"maxStepDown,omitempty"`
	Cooldown                 string  `json:"cooldown,omitempty"`
	ScaleDownStabilization   string  `json:"scaleDownStabilization,omitempty"`
	StartupLead              string  `json:"startupLead,omitempty"`
	TargetUtilization        float64 `json:"targetUtilization"`
	CapacityPerReplica       float64 `json:"capacityPerReplica"`
	UpperQuantileUtilization float64 `json:"upperQuantileUtilization,omitempty"`
	MinAccuracy              float64 `json:"minAccuracy,omitempty"`
	ApprovalStep             int     `json:"approvalStep,omitempty"`
	SpikeFactor              float64 `json:"spikeFactor,omitempty"`
	MaxMissingShare          float64 `json:"maxMissingShare,omitempty"`
}

// ScaleApproval names who decides on big steps.
type ScaleApproval struct {
	Requester string   `json:"requester"`
	Approvers []string `json:"approvers,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Quorum    int      `json:"quorum,omitempty"`
	// Expiry of a request (default 15m: demand does not wait a day).
	Expiry string `json:"expiry,omitempty"`
}

// Scale modes.
const (
	ScaleModeApply        = "apply"
	ScaleModeForecastOnly = "forecast-only"
	ScaleModeReactive     = "reactive"
)

const (
	defaultScaleStep     = time.Minute
	defaultScaleWindow   = 6 * time.Hour
	defaultScaleSeason   = 24 * time.Hour
	defaultScaleCoverage = 0.8
	defaultScaleExpiry   = "15m"
	maxScalePoints       = 11000 // Prometheus's limit per query
)

var kubeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Validate implements Input.
func (in ForecastScaleInput) Validate() error {
	m := in.Metrics
	if strings.TrimSpace(m.Query) == "" {
		return &FieldError{Field: "metrics.query", Problem: "is required", Fix: `give a PromQL expression with one series of demand, e.g. "sum(rate(http_requests_total[1m]))"`}
	}
	if m.Prometheus != "" {
		if u, err := url.Parse(m.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &FieldError{Field: "metrics.prometheus", Problem: fmt.Sprintf("%q is not an http(s) URL", m.Prometheus), Fix: "use the server's base URL, e.g. http://127.0.0.1:9090, or leave it out for the worker's default"}
		}
	}
	step, err := parseDuration(m.Step, defaultScaleStep)
	if err != nil || step < time.Second {
		return &FieldError{Field: "metrics.step", Problem: fmt.Sprintf("%q is not a duration of at least 1s", m.Step), Fix: `use Go duration syntax, e.g. "1m" or "5s"`}
	}
	window, err := parseDuration(m.Window, defaultScaleWindow)
	if err != nil || window <= 0 {
		return &FieldError{Field: "metrics.window", Problem: fmt.Sprintf("%q is not a positive duration", m.Window), Fix: `use Go duration syntax, e.g. "6h"`}
	}
	if n := int(window/step) + 1; n > maxScalePoints || n < 2 {
		return &FieldError{Field: "metrics.window", Problem: fmt.Sprintf("covers %d steps of %s", n, step), Fix: fmt.Sprintf("use between 2 and %d steps (Prometheus's limit): a shorter window or a longer step", maxScalePoints)}
	}
	if season, err := parseDuration(m.Season, defaultScaleSeason); err != nil || season < step {
		return &FieldError{Field: "metrics.season", Problem: fmt.Sprintf("%q is not a duration of at least one step", m.Season), Fix: `use Go duration syntax, e.g. "24h" (or the replayed day's length, e.g. "288s")`}
	}
	if m.Coverage < 0 || m.Coverage >= 1 {
		return &FieldError{Field: "metrics.coverage", Problem: fmt.Sprintf("is %v", m.Coverage), Fix: "use a share between 0 and 1, e.g. 0.8 (the default)"}
	}

	t := in.Target
	switch t.Kind {
	case "deployment", "statefulset":
		if !kubeName.MatchString(t.Name) {
			return &FieldError{Field: "target.name", Problem: fmt.Sprintf("%q is not a Kubernetes object name", t.Name), Fix: `name the Deployment or StatefulSet, e.g. "web"`}
		}
		if t.Namespace != "" && !kubeName.MatchString(t.Namespace) {
			return &FieldError{Field: "target.namespace", Problem: fmt.Sprintf("%q is not a Kubernetes namespace name", t.Namespace), Fix: `e.g. "default" (the default)`}
		}
	case "aws-asg":
		if t.Name == "" || len(t.Name) > 255 {
			return &FieldError{Field: "target.name", Problem: "is required", Fix: "name the Auto Scaling group"}
		}
		if t.Namespace != "" {
			return &FieldError{Field: "target.namespace", Problem: "does not apply to an Auto Scaling group", Fix: "leave it out"}
		}
	case scaleop.PulumiConfigKind:
		if err := validStackSetting(t); err != nil {
			return err
		}
	default:
		return &FieldError{Field: "target.kind", Problem: fmt.Sprintf("unknown kind %q", t.Kind), Fix: "use deployment, statefulset, aws-asg or pulumi-config"}
	}

	if !slices.Contains([]string{"", ScaleModeApply, ScaleModeForecastOnly, ScaleModeReactive}, in.Mode) {
		return &FieldError{Field: "mode", Problem: fmt.Sprintf("unknown mode %q", in.Mode), Fix: "use apply (default), forecast-only or reactive"}
	}
	p := in.Policy
	for _, d := range []struct{ field, value string }{
		{"policy.cooldown", p.Cooldown}, {"policy.scaleDownStabilization", p.ScaleDownStabilization}, {"policy.startupLead", p.StartupLead},
	} {
		if v, err := parseDuration(d.value, 0); err != nil || v < 0 {
			return &FieldError{Field: d.field, Problem: fmt.Sprintf("%q is not a duration", d.value), Fix: `use Go duration syntax, e.g. "5m"`}
		}
	}
	switch {
	case p.MinReplicas < 1:
		return &FieldError{Field: "policy.minReplicas", Problem: fmt.Sprintf("is %d", p.MinReplicas), Fix: "use at least 1 (scaling to zero is not supported)"}
	case p.MaxReplicas < p.MinReplicas:
		return &FieldError{Field: "policy.maxReplicas", Problem: fmt.Sprintf("%d is below minReplicas %d", p.MaxReplicas, p.MinReplicas), Fix: "raise maxReplicas"}
	case !(p.TargetUtilization > 0 && p.TargetUtilization <= 1):
		return &FieldError{Field: "policy.targetUtilization", Problem: fmt.Sprintf("is %v", p.TargetUtilization), Fix: "use a share in (0, 1], e.g. 0.7"}
	case !(p.CapacityPerReplica > 0):
		return &FieldError{Field: "policy.capacityPerReplica", Problem: fmt.Sprintf("is %v", p.CapacityPerReplica), Fix: "give the demand one replica serves at full utilisation, in the query's units"}
	case p.MinAccuracy < 0 || p.MinAccuracy >= 1:
		return &FieldError{Field: "policy.minAccuracy", Problem: fmt.Sprintf("is %v", p.MinAccuracy), Fix: "use 1 − WAPE between 0 and 1, e.g. 0.7; 0 disables the fallback"}
	case p.ApprovalStep > 0 && in.Mode != ScaleModeForecastOnly && (in.Approval == nil || (len(in.Approval.Approvers) == 0 && len(in.Approval.Groups) == 0)):
		return &FieldError{Field: "approval", Problem: "policy.approvalStep is set but no one may approve", Fix: `add "approval": {"requester": "...", "groups": ["sre"]}`}
	}
	if err := in.policy().Validate(); err != nil {
		return &FieldError{Field: "policy", Problem: err.Error()}
	}
	if in.Approval != nil {
		if err := in.approvalInput("check", "").Validate(); err != nil {
			if fe, ok := err.(*FieldError); ok {
				fe.Field = "approval." + fe.Field
				return fe
			}
			return err
		}
	}
	return nil
}

// mode resolves the default.
func (in ForecastScaleInput) mode() string {
	if in.Mode == "" {
		return ScaleModeApply
	}
	return in.Mode
}

// policy is the validated input as scaling's Policy (durations parsed).
func (in ForecastScaleInput) policy() scaling.Policy {
	p := in.Policy
	d := func(s string) time.Duration { v, _ := parseDuration(s, 0); return v }
	return scaling.Policy{
		MinReplicas: p.MinReplicas, MaxReplicas: p.MaxReplicas, MaxStepUp: p.MaxStepUp, MaxStepDown: p.MaxStepDown,
		Cooldown: d(p.Cooldown), ScaleDownStabilization: d(p.ScaleDownStabilization), StartupLead: d(p.StartupLead),
		TargetUtilization: p.TargetUtilization, CapacityPerReplica: p.CapacityPerReplica,
		UpperQuantileUtilization: p.UpperQuantileUtilization, MinAccuracy: p.MinAccuracy, ApprovalStep: p.ApprovalStep,
		ForecastOnly: in.mode() == ScaleModeForecastOnly, SpikeFactor: p.SpikeFactor, MaxMissingShare: p.MaxMissingShare,
	}
}

func (in ForecastScaleInput) step() time.Duration {
	v, _ := parseDuration(in.Metrics.Step, defaultScaleStep)
	return v
}

func (in ForecastScaleInput) window() time.Duration {
	v, _ := parseDuration(in.Metrics.Window, defaultScaleWindow)
	return v
}

func (in ForecastScaleInput) season() time.Duration {
	v, _ := parseDuration(in.Metrics.Season, defaultScaleSeason)
	return v
}

func (in ForecastScaleInput) coverage() float64 {
	if in.Metrics.Coverage == 0 {
		return defaultScaleCoverage
	}
	return in.Metrics.Coverage
}

func (in ForecastScaleInput) approvalInput(title, payload string) ApprovalInput {
	a := ScaleApproval{}
	if in.Approval != nil {
		a = *in.Approval
	}
	expiry := a.Expiry
	if expiry == "" {
		expiry = defaultScaleExpiry
	}
	// The tick asks on its own behalf, as DriftCheck's remediation does, for
	// the requester the Schedule names: a Schedule has no person to sign each
	// request, and a directory that refuses unsigned requesters would refuse
	// every big step.
	return ApprovalInput{Title: title, Summary: "forecast-and-scale step beyond policy.approvalStep", Payload: payload,
		Requester: a.Requester, RequesterSignature: &RequesterSignature{System: "ForecastScale"},
		Approvers: a.Approvers, Groups: a.Groups, Quorum: a.Quorum, Expiry: expiry, ReminderInterval: "0s"}
}

// validStackSetting checks a pulumi-config target: a program of the catalog,
// a stack name, and one of the program's integer settings.
func validStackSetting(t scaleop.ScaleTargetRef) error {
	program, ok := stacks.Lookup(t.Program)
	if !ok {
		return &FieldError{Field: "target.program", Problem: fmt.Sprintf("unknown program %q", t.Program), Fix: fmt.Sprintf("use one of: %v", stacks.Names())}
	}
	if !stackName.MatchString(t.Stack) {
		return &FieldError{Field: "target.stack", Problem: fmt.Sprintf("%q is not a stack name", t.Stack), Fix: "use lowercase letters, digits and dashes"}
	}
	var settings []string
	for _, k := range program.Config {
		if k.Type == stacks.Integer {
			settings = append(settings, k.Name)
		}
	}
	if !slices.Contains(settings, t.Key) {
		return &FieldError{Field: "target.key", Problem: fmt.Sprintf("%q is not an integer setting of the %s program", t.Key, t.Program),
			Fix: "use one of: " + strings.Join(settings, ", ")}
	}
	if t.Name != "" || t.Namespace != "" {
		return &FieldError{Field: "target.name", Problem: "name and namespace do not apply to a pulumi-config target", Fix: "leave them out: program, stack and key name it"}
	}
	return nil
}
