// Command scaling replays traces as demand through the discrete-time simulator
// of internal/scaling and compares static provisioning, the Kubernetes HPA rule,
// the perfect-foresight limit and infraflow's predictive policy, per the
// protocol in docs/benchmarks.md.
//
//	go run ./tests/bench/scaling --traces ../shared/data/traces --out .infraflow/bench
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/tests/bench/internal/trace"
)

const (
	targetUtilization = 0.7
	startupDelay      = 3 * time.Minute
	hpaTolerance      = 0.1
	hpaWindow         = 5 * time.Minute
	minReplicas       = 1
	maxReplicas       = 100
)

func main() {
	traces := flag.String("traces", "../shared/data/traces", "directory of timestamp,value CSV traces")
	out := flag.String("out", ".infraflow/bench", "directory for scaling.json and scaling.md")
	flag.Parse()
	if err := run(*traces, *out); err != nil {
		log.Fatal(err)
	}
}

type traceResult struct {
	Trace        string              `json:"trace"`
	Step         string              `json:"step"`
	Filled       int                 `json:"filledPoints"`
	Capacity     float64             `json:"capacityPerReplica"`
	StartupSteps int                 `json:"startupSteps"`
	Results      []scaling.SimResult `json:"results"`
	Notes        map[string]string   `json:"notes,omitempty"`
}

func run(dir, out string) error {
	traces, err := trace.LoadDir(dir)
	if err != nil {
		return err
	}
	var all []traceResult
	for _, tr := range traces {
		r, err := simulateTrace(tr)
		if err != nil {
			return fmt.Errorf("%s: %w", tr.Name, err)
		}
		all = append(all, r)
	}
	md := markdown(all)
	fmt.Print(md)
	return trace.WriteReport(out, "scaling", all, md)
}

func simulateTrace(tr trace.Trace) (traceResult, error) {
	y := tr.Values
	split := trace.Split(len(y))
	trainMax := slices.Max(y[:split])
	if !(trainMax > 0) {
		return traceResult{}, fmt.Errorf("training maximum %v: capacity would not be positive", trainMax)
	}
	capacity := trainMax / 20
	delay := max(1, int((startupDelay+tr.Step-1)/tr.Step))
	cfg := scaling.SimConfig{Step: tr.Step, CapacityPerReplica: capacity, StartupSteps: delay, MinReplicas: minReplicas, MaxReplicas: maxReplicas}
	static := int(math.Ceil(trainMax/(capacity*targetUtilization) - 1e-9))
	// Decisions within the last 5 minutes, this one included: 2 on 5-minute data, 1 on 30-minute data.
	window := int(hpaWindow/tr.Step) + 1
	controllers := []scaling.Controller{
		scaling.StaticController{Replicas: static},
		&scaling.HPAController{CapacityPerReplica: capacity, Target: targetUtilization, Tolerance: hpaTolerance, WindowSteps: window},
		scaling.ForesightController{Future: y, CapacityPerReplica: capacity, Target: targetUtilization, Delay: delay, Label: "foresight-u0.7"},
		scaling.ForesightController{Future: y, CapacityPerReplica: capacity, Target: 1.0, Delay: delay, Label: "foresight-u1.0"},
	}
	predictive, err := newPredictive(tr, split, capacity, delay)
	if err != nil {
		return traceResult{}, err
	}
	controllers = append(controllers, predictive...)
	res := traceResult{Trace: tr.Name, Step: tr.Step.String(), Filled: tr.Filled, Capacity: capacity, StartupSteps: delay}
	for _, c := range controllers {
		initial := static
		if f, ok := c.(scaling.ForesightController); ok {
			// The limit knows the future from the start: it begins the test part
			// with what it would have requested the step before.
			initial = f.Request(split-1, y[:split], static)
		}
		res.Results = append(res.Results, scaling.Simulate(cfg, y, split, initial, c))
	}
	return res, nil
}

func markdown(all []traceResult) string {
	var b strings.Builder
	if len(all) == 0 {
		return ""
	}
	var policies []string
	for _, r := range all[0].Results {
		policies = append(policies, r.Policy)
	}
	fmt.Fprintf(&b, "Replica-hours relative to static / SLO-violation steps (%%) / scaling actions\n\n| trace | steps |")
	for _, p := range policies {
		fmt.Fprintf(&b, " %s |", p)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(policies)) + "\n")
	totals := make([]scaling.SimResult, len(policies))
	totalSteps := 0
	for _, r := range all {
		staticHours := r.Results[0].ReplicaHours
		fmt.Fprintf(&b, "| %s | %d |", r.Trace, r.Results[0].Steps)
		totalSteps += r.Results[0].Steps
		for i, s := range r.Results {
			fmt.Fprintf(&b, " %.3f / %d (%.1f%%) / %d |", s.ReplicaHours/staticHours, s.ViolationSteps, 100*float64(s.ViolationSteps)/float64(s.Steps), s.Actions)
			totals[i].ReplicaHours += s.ReplicaHours
			totals[i].ViolationSteps += s.ViolationSteps
			totals[i].Actions += s.Actions
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| all %d (sums) | %d |", len(all), totalSteps)
	for _, s := range totals {
		fmt.Fprintf(&b, " %.3f / %d (%.1f%%) / %d |", s.ReplicaHours/totals[0].ReplicaHours, s.ViolationSteps, 100*float64(s.ViolationSteps)/float64(totalSteps), s.Actions)
	}
	b.WriteString("\n\nReplica-hours (absolute):\n\n| trace |")
	for _, p := range policies {
		fmt.Fprintf(&b, " %s |", p)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(policies)) + "\n")
	for _, r := range all {
		fmt.Fprintf(&b, "| %s |", r.Trace)
		for _, s := range r.Results {
			fmt.Fprintf(&b, " %.1f |", s.ReplicaHours)
		}
		b.WriteString("\n")
	}
	return b.String()
}
