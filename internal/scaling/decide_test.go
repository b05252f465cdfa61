package scaling

import (
	"math"
	"strings"
	"testing"
	"time"
)

func basePolicy() Policy {
	return Policy{MinReplicas: 2, MaxReplicas: 50, TargetUtilization: 0.5, CapacityPerReplica: 10,
		UpperQuantileUtilization: 1, StartupLead: 10 * time.Minute, ScaleDownStabilization: 5 * time.Minute, MinAccuracy: 0.6}
}

func flat(v float64, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = v
	}
	return d
}

func TestDecide(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	step := 5 * time.Minute
	good := &Forecast{Model: "hw", Point: []float64{100, 150, 200}, Upper: []float64{120, 180, 240}, RecentAccuracy: 0.9}
	cases := []struct {
		name     string
		policy   func(*Policy)
		in       Input
		replicas int
		mode     Mode
		apply    bool
		approval bool
		reason   string
	}{
		{name: "forecast peak within the lead time sets the count",
			in:       Input{Demand: flat(100, 12), Forecast: good, CurrentReplicas: 20},
			replicas: 30, mode: ModePredictive, apply: true, reason: "forecast needs 30 within 2 steps"},
		{name: "upper quantile as headroom: point fits, upper does not",
			in:       Input{Demand: flat(10, 12), Forecast: &Forecast{Model: "hw", Point: []float64{10, 10}, Upper: []float64{10, 95}, RecentAccuracy: 0.9}, CurrentReplicas: 5},
			replicas: 10, mode: ModePredictive, apply: true},
		{name: "reactive floor: never below what current demand needs",
			in:       Input{Demand: flat(300, 12), Forecast: &Forecast{Model: "hw", Point: []float64{10, 10}, Upper: []float64{20, 20}, RecentAccuracy: 0.9}, CurrentReplicas: 60},
			replicas: 50, mode: ModePredictive, apply: true, reason: "capped at max 50"},
		{name: "poor recent accuracy falls back to reactive",
			in:       Input{Demand: flat(100, 12), Forecast: &Forecast{Model: "hw", Point: []float64{900, 900}, Upper: []float64{990, 990}, RecentAccuracy: 0.3}, CurrentReplicas: 20},
			replicas: 20, mode: ModeReactive, reason: "recent accuracy 0.30 is below 0.60"},
		{name: "no forecast is reactive",
			in:       Input{Demand: flat(100, 12), CurrentReplicas: 10},
			replicas: 20, mode: ModeReactive, apply: true, reason: "no forecast"},
		{name: "forecast shorter than the startup lead is reactive",
			in:       Input{Demand: flat(100, 12), Forecast: &Forecast{Model: "hw", Point: []float64{100}, Upper: []float64{100}, RecentAccuracy: 0.9}, CurrentReplicas: 20},
			replicas: 20, mode: ModeReactive, reason: "startup lead needs 2"},
		{name: "stabilisation keeps a recent higher recommendation",
			in: Input{Demand: flat(40, 12), Forecast: &Forecast{Model: "hw", Point: []float64{40, 40}, Upper: []float64{40, 40}, RecentAccuracy: 0.9}, CurrentReplicas: 30,
				Recent: []Recommendation{{At: now.Add(-4 * time.Minute), Replicas: 25}, {At: now.Add(-20 * time.Minute), Replicas: 30}}},
			replicas: 25, mode: ModePredictive, apply: true, reason: "stabilisation keeps 25"},
		{name: "cooldown holds a scale-down",
			policy: func(p *Policy) { p.Cooldown = 15 * time.Minute },
			in: Input{Demand: flat(40, 12), Forecast: &Forecast{Model: "hw", Point: []float64{40, 40}, Upper: []float64{40, 40}, RecentAccuracy: 0.9}, CurrentReplicas: 30,
				LastScaleAt: now.Add(-10 * time.Minute)},
			replicas: 30, mode: ModePredictive, reason: "cooldown"},
		{name: "cooldown never delays a scale-up",
			policy:   func(p *Policy) { p.Cooldown = 15 * time.Minute },
			in:       Input{Demand: flat(100, 12), Forecast: good, CurrentReplicas: 20, LastScaleAt: now.Add(-time.Minute)},
			replicas: 30, mode: ModePredictive, apply: true},
		{name: "step limits",
			policy:   func(p *Policy) { p.MaxStepUp = 5 },
			in:       Input{Demand: flat(100, 12), Forecast: good, CurrentReplicas: 20},
			replicas: 25, mode: ModePredictive, apply: true, reason: "step up limited to 5"},
		{name: "step down limit",
			policy:   func(p *Policy) { p.MaxStepDown = 3; p.ScaleDownStabilization = 0 },
			in:       Input{Demand: flat(10, 12), Forecast: &Forecast{Model: "hw", Point: []float64{10, 10}, Upper: []float64{10, 10}, RecentAccuracy: 0.9}, CurrentReplicas: 20},
			replicas: 17, mode: ModePredictive, apply: true, reason: "step down limited to 3"},
		{name: "a big step needs approval",
			policy:   func(p *Policy) { p.ApprovalStep = 5 },
			in:       Input{Demand: flat(100, 12), Forecast: good, CurrentReplicas: 20},
			replicas: 30, mode: ModePredictive, apply: true, approval: true, reason: "needs approval"},
		{name: "forecast-only decides but does not apply",
			policy:   func(p *Policy) { p.ForecastOnly = true },
			in:       Input{Demand: flat(100, 12), Forecast: good, CurrentReplicas: 20},
			replicas: 30, mode: ModePredictive, apply: false, reason: "forecast-only"},
		{name: "min bound", in: Input{Demand: flat(0, 12), CurrentReplicas: 3},
			replicas: 2, mode: ModeReactive, apply: true, reason: "raised to min 2"},
		// Garbage metrics hold the current count and say why.
		{name: "empty demand holds", in: Input{Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "no demand samples"},
		{name: "NaN latest sample holds", in: Input{Demand: append(flat(100, 11), math.NaN()), Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "latest demand sample is NaN"},
		{name: "+Inf latest sample holds", in: Input{Demand: append(flat(100, 11), math.Inf(1)), Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "latest demand sample is +Inf"},
		{name: "gaps hold", in: Input{Demand: []float64{100, math.NaN(), math.NaN(), 100, math.NaN(), 100, 100, 100, 100, 100}, Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "3 of 10 recent demand samples are missing"},
		{name: "a sudden x100 spike holds instead of scaling to max", in: Input{Demand: append(flat(100, 11), 10000), Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "broken metric"},
		{name: "negative demand holds", in: Input{Demand: append(flat(100, 11), -5), Forecast: good, CurrentReplicas: 7},
			replicas: 7, mode: ModeHold, reason: "negative"},
		{name: "a NaN forecast is not used", in: Input{Demand: flat(100, 12), Forecast: &Forecast{Model: "x", Point: []float64{math.NaN(), 1}, Upper: []float64{1, 1}, RecentAccuracy: 0.9}, CurrentReplicas: 20},
			replicas: 20, mode: ModeReactive, reason: "not finite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			tc.in.Now, tc.in.Step = now, step
			d, err := Decide(p, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Replicas != tc.replicas || d.Mode != tc.mode || d.Apply != tc.apply || d.NeedsApproval != tc.approval {
				t.Errorf("got %d replicas, mode %s, apply %v, approval %v; want %d, %s, %v, %v (reason: %s)",
					d.Replicas, d.Mode, d.Apply, d.NeedsApproval, tc.replicas, tc.mode, tc.apply, tc.approval, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestPolicyValidation(t *testing.T) {
	bad := []func(*Policy){
		func(p *Policy) { p.MinReplicas = 0 },
		func(p *Policy) { p.MaxReplicas = 1 },
		func(p *Policy) { p.TargetUtilization = 0 },
		func(p *Policy) { p.CapacityPerReplica = math.NaN() },
		func(p *Policy) { p.UpperQuantileUtilization = 2 },
	}
	for i, mutate := range bad {
		p := basePolicy()
		mutate(&p)
		if _, err := Decide(p, Input{Demand: flat(1, 3), CurrentReplicas: 3}); err == nil {
			t.Errorf("case %d: invalid policy %+v accepted", i, p)
		}
	}
}

func TestSimulatorTiming(t *testing.T) {
	// Demand needs 1 replica, then 3 from step 4. A controller that asks for 3 at
	// step 1 gets them ready at step 1+2 with a 2-step startup, and pays from step 2.
	demand := []float64{5, 5, 5, 5, 25, 25}
	cfg := SimConfig{Step: time.Hour, CapacityPerReplica: 10, StartupSteps: 2, MinReplicas: 1, MaxReplicas: 10}
	res := Simulate(cfg, demand, 0, 1, scripted{1: 3})
	wantPaid := []int{1, 1, 3, 3, 3, 3}
	wantReady := []int{1, 1, 1, 3, 3, 3}
	for i := range demand {
		if res.Replicas[i] != wantPaid[i] || res.Ready[i] != wantReady[i] {
			t.Fatalf("step %d: paid %d ready %d, want %d and %d", i, res.Replicas[i], res.Ready[i], wantPaid[i], wantReady[i])
		}
	}
	if res.ReplicaHours != 14 || res.ViolationSteps != 0 || res.Actions != 1 {
		t.Errorf("got %v replica-hours, %d violations, %d actions; want 14, 0, 1", res.ReplicaHours, res.ViolationSteps, res.Actions)
	}
	// Scaling down removes starting replicas first: ask for 3 at step 0, back to 2
	// at step 1; the one left starting is removed, the ready one stays.
	res = Simulate(cfg, []float64{5, 5, 15, 15}, 0, 1, scripted{0: 3, 1: 2})
	if res.Ready[2] != 2 || res.Ready[1] != 1 {
		t.Errorf("ready %v, want [1 1 2 2]", res.Ready)
	}
}

type scripted map[int]int

func (s scripted) Name() string { return "scripted" }
func (s scripted) Request(t int, _ []float64, current int) int {
	if n, ok := s[t]; ok {
		return n
	}
	return current
}
