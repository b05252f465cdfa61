package scaling

import (
	"math"
	"time"
)

// SimConfig describes the simulated service (see docs/benchmarks.md: the
// scaling protocol).
type SimConfig struct {
	Step               time.Duration
	CapacityPerReplica float64
	// StartupSteps: a replica requested at step t is ready from step t+StartupSteps.
	StartupSteps int
	MinReplicas  int
	MaxReplicas  int
}

// Controller is a scaling policy under simulation: at step t it sees demand up
// to and including demand[t] and the replicas it has (ready or starting), and
// requests the count that applies from step t+1.
type Controller interface {
	Name() string
	Request(t int, demand []float64, replicas int) int
}

// SimResult is one policy's run over the simulated part of a trace.
type SimResult struct {
	Policy         string  `json:"policy"`
	Steps          int     `json:"steps"`
	ReplicaHours   float64 `json:"replicaHours"`
	ViolationSteps int     `json:"violationSteps"`
	Actions        int     `json:"actions"`
	// Replicas[i] is the count (ready and starting) paid for at step start+i.
	Replicas []int `json:"-"`
	Ready    []int `json:"-"`
}

// Simulate replays demand[start:] against ctl, starting with initial ready
// replicas. A replica costs from the step after it is requested; a step
// violates the SLO when its demand exceeds the ready capacity; a scale-down
// removes starting replicas (the newest first) before ready ones.
func Simulate(cfg SimConfig, demand []float64, start, initial int, ctl Controller) SimResult {
	delay := max(1, cfg.StartupSteps)
	readyAt := make([]int, 0, cfg.MaxReplicas) // ascending: the newest last
	for range clamp(initial, cfg.MinReplicas, cfg.MaxReplicas) {
		readyAt = append(readyAt, math.MinInt32)
	}
	res := SimResult{Policy: ctl.Name()}
	stepHours := cfg.Step.Hours()
	for t := start; t < len(demand); t++ {
		ready := 0
		for _, at := range readyAt {
			if at <= t {
				ready++
			}
		}
		if demand[t] > float64(ready)*cfg.CapacityPerReplica {
			res.ViolationSteps++
		}
		res.ReplicaHours += float64(len(readyAt)) * stepHours
		res.Replicas = append(res.Replicas, len(readyAt))
		res.Ready = append(res.Ready, ready)
		res.Steps++

		want := clamp(ctl.Request(t, demand[:t+1], len(readyAt)), cfg.MinReplicas, cfg.MaxReplicas)
		if want == len(readyAt) {
			continue
		}
		res.Actions++
		for len(readyAt) < want {
			readyAt = append(readyAt, t+delay)
		}
		readyAt = readyAt[:want] // the newest, i.e. starting, go first
	}
	return res
}

func clamp(n, lo, hi int) int { return max(lo, min(hi, n)) }

// StaticController keeps one count for ever.
type StaticController struct{ Replicas int }

func (s StaticController) Name() string                    { return "static" }
func (s StaticController) Request(int, []float64, int) int { return s.Replicas }

// HPAController is the Kubernetes HPA rule on a utilisation metric:
// desired = ceil(current × observed/target) outside a tolerance band, no limit
// on scaling up, and scale-down stabilisation (the highest recommendation of the
// window, this one included, wins).
type HPAController struct {
	CapacityPerReplica float64
	Target             float64
	Tolerance          float64
	// WindowSteps is the stabilisation window in decisions (this one included).
	WindowSteps int
	history     []int
}

func (h *HPAController) Name() string { return "hpa" }

func (h *HPAController) Request(t int, demand []float64, current int) int {
	ratio := demand[len(demand)-1] / (float64(current) * h.CapacityPerReplica) / h.Target
	recommended := current
	if math.Abs(ratio-1) > h.Tolerance {
		recommended = int(math.Ceil(float64(current)*ratio - 1e-9))
	}
	h.history = append(h.history, recommended)
	if len(h.history) > max(1, h.WindowSteps) {
		h.history = h.history[1:]
	}
	desired := recommended
	if desired < current {
		for _, r := range h.history {
			desired = max(desired, r)
		}
		desired = min(desired, current)
	}
	return desired
}

// ForesightController knows the future: at t it requests what demand at t+d
// needs at utilisation Target. The limit, not a policy.
type ForesightController struct {
	Future             []float64
	CapacityPerReplica float64
	Target             float64
	Delay              int
	Label              string
}

func (f ForesightController) Name() string { return f.Label }

func (f ForesightController) Request(t int, _ []float64, _ int) int {
	i := min(t+max(1, f.Delay), len(f.Future)-1)
	return ceilDiv(f.Future[i], f.CapacityPerReplica*f.Target)
}
