package chaos

import (
	"fmt"
	"math"
	"strconv"
)

// Measurement is what every probe returns: the value it measured and whether
// it is within tolerance. A target that misbehaves (an HTTP error, a replica
// missing) is a measurement out of tolerance, not an error; errors are for
// probes that could not measure at all.
type Measurement struct {
	Value           float64 `json:"value"`
	Unit            string  `json:"unit,omitempty"`
	WithinTolerance bool    `json:"withinTolerance"`
	// Tolerance is the condition the value was held to, e.g. "<= 0.5".
	Tolerance string `json:"tolerance"`
	// Detail says why a value is out of tolerance, or anything else worth
	// knowing about it (failed requests, a NaN sample).
	Detail string `json:"detail,omitempty"`
	// NonFinite is "NaN", "+Inf" or "-Inf" when the measured value was one
	// (JSON has no such numbers; Value is then 0).
	NonFinite string `json:"nonFinite,omitempty"`
}

// Comparison operators a probe's tolerance is written with.
const (
	Less         = "<"
	LessEqual    = "<="
	Greater      = ">"
	GreaterEqual = ">="
	Equal        = "=="
)

var operators = []string{Less, LessEqual, Greater, GreaterEqual, Equal}

func checkOperator(field, op string) error {
	for _, known := range operators {
		if op == known {
			return nil
		}
	}
	return &InputError{Field: field, Problem: fmt.Sprintf("%q is not a comparison", op), Fix: "use one of <, <=, >, >=, =="}
}

// compare says whether value op threshold holds; NaN never does.
func compare(value float64, op string, threshold float64) bool {
	if math.IsNaN(value) {
		return false
	}
	switch op {
	case Less:
		return value < threshold
	case LessEqual:
		return value <= threshold
	case Greater:
		return value > threshold
	case GreaterEqual:
		return value >= threshold
	case Equal:
		return value == threshold
	}
	return false
}

func measure(value float64, unit, op string, threshold float64) Measurement {
	m := Measurement{
		Value: value, Unit: unit,
		WithinTolerance: compare(value, op, threshold),
		Tolerance:       op + " " + strconv.FormatFloat(threshold, 'g', -1, 64),
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		m.NonFinite, m.Value = strconv.FormatFloat(value, 'g', -1, 64), 0
	}
	return m
}
