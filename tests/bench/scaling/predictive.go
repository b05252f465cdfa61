package main

import "github.com/infraflow/infraflow/tests/bench/internal/trace"
import "github.com/infraflow/infraflow/internal/scaling"

func newPredictive(tr trace.Trace, split int, capacity float64, delay int) ([]scaling.Controller, error) {
	return nil, nil
}
