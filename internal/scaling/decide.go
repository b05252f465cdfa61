// Package scaling decides replica counts from demand and its forecast, with the
// guardrails an operator expects (bounds, step limits, cooldown, scale-down
// stabilisation, a reactive floor, approval for big steps), and replays traces
// through a discrete-time simulator to compare policies. It does no I/O.
package scaling

import (
	"fmt"
	"math"
	"time"
)

// Policy holds the guardrails and targets of one scaled service.
type Policy struct {
	MinReplicas int `json:"minReplicas"`
	MaxReplicas int `json:"maxReplicas"`
	// MaxStepUp and MaxStepDown bound one decision's change; 0 means no limit.
	MaxStepUp   int `json:"maxStepUp,omitempty"`
	MaxStepDown int `json:"maxStepDown,omitempty"`
	// Cooldown: no scale-down sooner than this after the last scaling action
	// (scale-up is never delayed: a late scale-up is an SLO violation).
	Cooldown time.Duration `json:"cooldown,omitempty"`
	// ScaleDownStabilization: the highest recommendation of this window (this one
	// included) wins, as in the Kubernetes HPA, so a dip does not shed replicas
	// that are needed again a moment later.
	ScaleDownStabilization time.Duration `json:"scaleDownStabilization,omitempty"`
	// StartupLead is how long a new replica takes to serve: the forecast must
	// cover at least this far ahead.
	StartupLead time.Duration `json:"startupLead,omitempty"`
	// TargetUtilization of ready capacity for the expected (point forecast) demand.
	TargetUtilization float64 `json:"targetUtilization"`
	// CapacityPerReplica in units of demand.
	CapacityPerReplica float64 `json:"capacityPerReplica"`
	// UpperQuantileUtilization is the utilisation allowed for the forecast's upper
	// bound (headroom): with 1.0, the upper bound must fit in full capacity.
	UpperQuantileUtilization float64 `json:"upperQuantileUtilization,omitempty"`
	// MinAccuracy: below this recent forecast accuracy (1 − WAPE) the decision is
	// reactive. 0 disables the fallback.
	MinAccuracy float64 `json:"minAccuracy,omitempty"`
	// ApprovalStep: a change of more replicas than this needs approval; 0 never.
	ApprovalStep int `json:"approvalStep,omitempty"`
	// ForecastOnly: decide and record, never apply.
	ForecastOnly bool `json:"forecastOnly,omitempty"`
	// SpikeFactor: a latest sample above this many times the recent maximum is
	// taken for a broken metric, not demand; 0 means 50.
	SpikeFactor float64 `json:"spikeFactor,omitempty"`
	// MaxMissingShare of the recent demand samples may be missing (NaN) before
	// the metrics are not trusted; 0 means 0.1.
	MaxMissingShare float64 `json:"maxMissingShare,omitempty"`
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.MinReplicas < 1:
		return fmt.Errorf("policy: minReplicas %d: must be at least 1 (scaling to zero is not supported)", p.MinReplicas)
	case p.MaxReplicas < p.MinReplicas:
		return fmt.Errorf("policy: maxReplicas %d is below minReplicas %d", p.MaxReplicas, p.MinReplicas)
	case !(p.TargetUtilization > 0 && p.TargetUtilization <= 1):
		return fmt.Errorf("policy: targetUtilization %v: must be in (0, 1]", p.TargetUtilization)
	case !(p.CapacityPerReplica > 0) || math.IsInf(p.CapacityPerReplica, 0):
		return fmt.Errorf("policy: capacityPerReplica %v: must be positive and finite", p.CapacityPerReplica)
	case p.UpperQuantileUtilization < 0 || p.UpperQuantileUtilization > 1:
		return fmt.Errorf("policy: upperQuantileUtilization %v: must be in [0, 1] (0 means 1)", p.UpperQuantileUtilization)
	case p.MaxStepUp < 0 || p.MaxStepDown < 0 || p.ApprovalStep < 0:
		return fmt.Errorf("policy: step limits must not be negative")
	}
	return nil
}

// Forecast is what the forecaster says about the next steps: Point[k] and
// Upper[k] are k+1 steps ahead of the latest demand sample.
type Forecast struct {
	Model string    `json:"model"`
	Point []float64 `json:"point"`
	Upper []float64 `json:"upper"`
	// RecentAccuracy is 1 − WAPE of this loop's recent forecasts against what
	// happened; NaN when unknown (no history yet).
	RecentAccuracy float64 `json:"recentAccuracy"`
}

// Recommendation is an earlier decision's unclamped recommendation, kept for
// the scale-down stabilisation window.
type Recommendation struct {
	At       time.Time `json:"at"`
	Replicas int       `json:"replicas"`
}

// Input is everything one decision sees.
type Input struct {
	Now time.Time
	// Step is the demand sampling interval.
	Step time.Duration
	// Demand is the recent demand on a regular grid, oldest first, the latest
	// sample last; NaN marks a missing sample.
	Demand          []float64
	Forecast        *Forecast // nil: reactive
	CurrentReplicas int
	LastScaleAt     time.Time
	Recent          []Recommendation
}

// Mode says how a decision was reached.
type Mode string

const (
	ModePredictive Mode = "predictive"
	ModeReactive   Mode = "reactive"
	ModeHold       Mode = "hold"
)

// Decision is the outcome with its reason in words.
type Decision struct {
	Replicas int    `json:"replicas"`
	Previous int    `json:"previous"`
	Mode     Mode   `json:"mode"`
	Model    string `json:"model,omitempty"`
	Reason   string `json:"reason"`
	// Recommended is the count before stabilisation, step limits and bounds; the
	// caller keeps it for the next decisions' stabilisation window.
	Recommended   int  `json:"recommended"`
	NeedsApproval bool `json:"needsApproval"`
	// Apply is false in forecast-only mode and when nothing changes.
	Apply bool `json:"apply"`
}

// Decide turns demand, forecast and policy into a replica count. Bad metrics
// (empty, a missing or non-finite latest sample, too many gaps, an implausible
// spike) hold the current count: bad data must never scale to 0 or to max.
func Decide(p Policy, in Input) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	current := in.CurrentReplicas
	if current < 1 {
		// Nothing to hold at; the minimum is the only safe count.
		current = p.MinReplicas
	}
	hold := func(reason string) (Decision, error) {
		return Decision{Replicas: current, Previous: current, Mode: ModeHold, Reason: "holding " + itoa(current) + " replicas: " + reason, Recommended: current}, nil
	}
	if reason := p.untrustworthy(in.Demand); reason != "" {
		return hold(reason)
	}
	latest := in.Demand[len(in.Demand)-1]
	capacity := p.CapacityPerReplica
	floor := ceilDiv(latest, capacity*p.TargetUtilization)

	mode, model, recommended := ModeReactive, "", floor
	var why string
	switch reason := p.forecastUnusable(in); {
	case reason != "":
		why = fmt.Sprintf("reactive (%s): demand %.4g needs %d at %.0f%% utilisation", reason, latest, floor, 100*p.TargetUtilization)
	default:
		mode, model = ModePredictive, in.Forecast.Model
		need, at := p.forecastNeed(in)
		recommended = max(need, floor)
		why = fmt.Sprintf("predictive (%s): forecast needs %d within %d steps (step %d); current demand %.4g needs %d", model, need, p.leadSteps(in.Step), at, latest, floor)
	}

	desired := recommended
	// Scale-down stabilisation: the highest recommendation in the window wins.
	if desired < current && p.ScaleDownStabilization > 0 {
		for _, r := range in.Recent {
			if !r.At.Before(in.Now.Add(-p.ScaleDownStabilization)) && r.Replicas > desired {
				desired = min(r.Replicas, current)
				why += fmt.Sprintf("; stabilisation keeps %d (recommended at %s)", desired, r.At.Format(time.RFC3339))
			}
		}
	}
	if desired < current && p.Cooldown > 0 && !in.LastScaleAt.IsZero() && in.Now.Sub(in.LastScaleAt) < p.Cooldown {
		why += fmt.Sprintf("; cooldown (last change %s ago) holds the scale-down", in.Now.Sub(in.LastScaleAt))
		desired = current
	}
	if p.MaxStepUp > 0 && desired > current+p.MaxStepUp {
		desired = current + p.MaxStepUp
		why += fmt.Sprintf("; step up limited to %d", p.MaxStepUp)
	}
	if p.MaxStepDown > 0 && desired < current-p.MaxStepDown {
		desired = current - p.MaxStepDown
		why += fmt.Sprintf("; step down limited to %d", p.MaxStepDown)
	}
	if desired > p.MaxReplicas {
		why += fmt.Sprintf("; capped at max %d", p.MaxReplicas)
		desired = p.MaxReplicas
	}
	if desired < p.MinReplicas {
		desired = p.MinReplicas
		why += fmt.Sprintf("; raised to min %d", p.MinReplicas)
	}
	d := Decision{Replicas: desired, Previous: current, Mode: mode, Model: model, Reason: why, Recommended: recommended}
	d.NeedsApproval = p.ApprovalStep > 0 && abs(desired-current) > p.ApprovalStep
	if d.NeedsApproval {
		d.Reason += fmt.Sprintf("; a change of %d exceeds %d and needs approval", desired-current, p.ApprovalStep)
	}
	d.Apply = desired != current && !p.ForecastOnly
	if p.ForecastOnly {
		d.Reason += "; forecast-only mode: not applied"
	}
	return d, nil
}

// untrustworthy says why the demand samples cannot be used, or "".
func (p Policy) untrustworthy(demand []float64) string {
	if len(demand) == 0 {
		return "no demand samples"
	}
	latest := demand[len(demand)-1]
	if math.IsNaN(latest) || math.IsInf(latest, 0) {
		return fmt.Sprintf("the latest demand sample is %v", latest)
	}
	if latest < 0 {
		return fmt.Sprintf("the latest demand sample is negative (%v)", latest)
	}
	missing, recentMax := 0, math.Inf(-1)
	for _, v := range demand[:len(demand)-1] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			missing++
			continue
		}
		recentMax = math.Max(recentMax, v)
	}
	share := p.MaxMissingShare
	if share == 0 {
		share = 0.1
	}
	if float64(missing) > share*float64(len(demand)) {
		return fmt.Sprintf("%d of %d recent demand samples are missing", missing, len(demand))
	}
	factor := p.SpikeFactor
	if factor == 0 {
		factor = 50
	}
	if recentMax > 0 && latest > factor*recentMax {
		return fmt.Sprintf("the latest demand %.4g is %.0f× the recent maximum %.4g, more like a broken metric than demand", latest, latest/recentMax, recentMax)
	}
	return ""
}

// forecastUnusable says why the decision must be reactive, or "".
func (p Policy) forecastUnusable(in Input) string {
	f := in.Forecast
	if f == nil || len(f.Point) == 0 {
		return "no forecast"
	}
	if len(f.Upper) != len(f.Point) {
		return "the forecast has no interval"
	}
	if n := p.leadSteps(in.Step); len(f.Point) < n {
		return fmt.Sprintf("the forecast covers %d steps, the startup lead needs %d", len(f.Point), n)
	}
	for k := range f.Point {
		if !finite(f.Point[k]) || !finite(f.Upper[k]) {
			return "the forecast is not finite"
		}
	}
	if p.MinAccuracy > 0 && !math.IsNaN(f.RecentAccuracy) && f.RecentAccuracy < p.MinAccuracy {
		return fmt.Sprintf("recent accuracy %.2f is below %.2f", f.RecentAccuracy, p.MinAccuracy)
	}
	return ""
}

// leadSteps is how many steps the decision must look ahead: the startup lead in
// whole steps, at least one (a decision applies from the next step).
func (p Policy) leadSteps(step time.Duration) int {
	if step <= 0 || p.StartupLead <= 0 {
		return 1
	}
	return max(1, int((p.StartupLead+step-1)/step))
}

// forecastNeed is the most replicas any step up to the lead needs: removals take
// effect at once, so every step until new replicas are ready must be covered.
func (p Policy) forecastNeed(in Input) (need, atStep int) {
	upperUtil := p.UpperQuantileUtilization
	if upperUtil == 0 {
		upperUtil = 1
	}
	c := p.CapacityPerReplica
	for k := 0; k < p.leadSteps(in.Step); k++ {
		n := max(ceilDiv(in.Forecast.Point[k], c*p.TargetUtilization), ceilDiv(in.Forecast.Upper[k], c*upperUtil))
		if n > need {
			need, atStep = n, k+1
		}
	}
	return need, atStep
}

func ceilDiv(demand, perReplica float64) int {
	if !(demand > 0) {
		return 0
	}
	n := demand / perReplica
	if n > 1e9 {
		return 1e9 // beyond any max; keeps the conversion to int defined
	}
	// Allow for rounding: 2.0000000001 replicas' worth is 2.
	return int(math.Ceil(n - 1e-9))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func itoa(n int) string { return fmt.Sprint(n) }
