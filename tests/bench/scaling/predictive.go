package main

import (
	"time"

	"github.com/infraflow/infraflow/internal/scaling"
	"github.com/infraflow/infraflow/tests/bench/internal/trace"
)

// newPredictive builds infraflow's predictive policy with the protocol's
// service settings and the library's default guardrails.
func newPredictive(tr trace.Trace, split int, capacity float64, delay int) ([]scaling.Controller, error) {
	policy := scaling.Policy{
		MinReplicas: minReplicas, MaxReplicas: maxReplicas,
		TargetUtilization: targetUtilization, CapacityPerReplica: capacity,
		UpperQuantileUtilization: 1.0,
		StartupLead:              time.Duration(delay) * tr.Step,
		ScaleDownStabilization:   hpaWindow,
		MinAccuracy:              0.5,
	}
	c, err := scaling.NewPredictiveController("infraflow", policy, tr.Step, tr.Values[:split], 0.8)
	if err != nil {
		return nil, err
	}
	// A variant sized by the SLO rather than by a utilisation target: the 98%
	// interval's upper bound (the 99th percentile) must fit in full capacity, and
	// so must current demand (the reactive floor at 100%). It has no accuracy
	// fallback: the fallback judges the point forecast (1 − WAPE), but this
	// policy sizes by the upper quantile, and the reactive rule it would fall back
	// to has no headroom at full utilisation. On a spiky trace the point forecast
	// can be poor while its 99th percentile still covers the spikes.
	q99 := policy
	q99.TargetUtilization = 1.0
	q99.MinAccuracy = 0
	v, err := scaling.NewPredictiveController("infraflow-q99", q99, tr.Step, tr.Values[:split], 0.98)
	if err != nil {
		return nil, err
	}
	// The same with the accuracy fallback, to show what it costs.
	q99f := q99
	q99f.MinAccuracy = policy.MinAccuracy
	vf, err := scaling.NewPredictiveController("infraflow-q99-fallback", q99f, tr.Step, tr.Values[:split], 0.98)
	if err != nil {
		return nil, err
	}
	return []scaling.Controller{c, v, vf}, nil
}
