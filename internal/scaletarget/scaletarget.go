// Package scaletarget reads and sets the replica count of the things
// forecast-and-scale scales, as a compare-and-set on the count a tick
// observed, so a retried or duplicated tick never applies twice.
package scaletarget

import (
	"context"
	"fmt"
)

// Outcome of a compare-and-set.
type Outcome string

const (
	// Applied: the count was the expected one and is now the desired one.
	Applied Outcome = "applied"
	// AlreadyApplied: the count already is the desired one (a retry of a tick
	// whose apply went through, or a duplicate tick); nothing was changed.
	AlreadyApplied Outcome = "already-applied"
	// Conflict: someone else changed the count since the tick observed it;
	// nothing was changed, the next tick decides again from the new count.
	Conflict Outcome = "conflict"
)

// Result says what a compare-and-set did; Current is the count afterwards.
type Result struct {
	Outcome  Outcome `json:"outcome"`
	Expected int     `json:"expected"`
	Desired  int     `json:"desired"`
	Current  int     `json:"current"`
}

// Target is one scalable thing.
type Target interface {
	// Name is a label with no secrets in it, e.g. kubernetes/default/deployment/web.
	Name() string
	Replicas(ctx context.Context) (int, error)
	CompareAndSet(ctx context.Context, expected, desired int) (Result, error)
}

// decide is the compare-and-set rule shared by the targets.
func decide(current, expected, desired int) (Outcome, bool) {
	switch current {
	case desired:
		return AlreadyApplied, false
	case expected:
		return Applied, true
	default:
		return Conflict, false
	}
}

// ErrNotFound wraps a target that does not exist: not worth retrying.
type ErrNotFound struct{ What string }

func (e *ErrNotFound) Error() string { return fmt.Sprintf("%s not found", e.What) }
