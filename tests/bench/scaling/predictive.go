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
	return []scaling.Controller{c}, nil
}
