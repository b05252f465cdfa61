// Package scaletarget reads and sets the replica count of the things
// forecast-and-scale scales, as a compare-and-set on the count a tick
// observed, so a retried or duplicated tick never applies twice.
package scaletarget

import (
	"context"
	"fmt"

	"github.com/infraflow/infraflow/internal/scaleop"
)

// Target is one scalable thing.
type Target interface {
	// Name is a label with no secrets in it, e.g. kubernetes/default/deployment/web.
	Name() string
	Replicas(ctx context.Context) (int, error)
	CompareAndSet(ctx context.Context, expected, desired int) (scaleop.Result, error)
}

// decide is the compare-and-set rule shared by the targets.
func decide(current, expected, desired int) (scaleop.Outcome, bool) {
	switch current {
	case desired:
		return scaleop.AlreadyApplied, false
	case expected:
		return scaleop.Applied, true
	default:
		return scaleop.Conflict, false
	}
}

// ErrNotFound wraps a target that does not exist: not worth retrying.
type ErrNotFound struct{ What string }

func (e *ErrNotFound) Error() string { return fmt.Sprintf("%s not found", e.What) }
