package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/pulumistack"
	"github.com/infraflow/infraflow/internal/stackop"
)

func TestPreviewFailureRetriesOnlyAnAPIThatCouldNotBeReached(t *testing.T) {
	cases := map[string]bool{
		`kubernetes:core/v1:Namespace cfg: Get "https://127.0.0.1:6443/api/v1/namespaces/cfg": dial tcp 127.0.0.1:6443: connect: connection refused`: true,
		`read tcp 127.0.0.1:5000->127.0.0.1:6443: read: connection reset by peer`:                                                                    true,
		`net/http: TLS handshake timeout`: true,
		`kubernetes:apps/v1:Deployment web: admission webhook denied the request: replicas must be at most 10`: false,
		`program failed: config.replicas: must be a number`:                                                    false,
	}
	for msg, retryable := range cases {
		var appErr *temporal.ApplicationError
		if err := previewFailure(context.Background(), errors.New(msg)); !errors.As(err, &appErr) || appErr.NonRetryable() == retryable || appErr.Type() != stackop.ErrTypeEngineFailed {
			t.Errorf("%q: %v, want an %s error, retryable %v", msg, err, stackop.ErrTypeEngineFailed, retryable)
		}
	}
}

// A saved plan that cannot be filed (an earlier copy was changed) refuses
// the preview for good, as such.
func TestPreviewFailureRefusesAChangedPlan(t *testing.T) {
	var appErr *temporal.ApplicationError
	err := previewFailure(context.Background(), fmt.Errorf("%w: plans/ab.json was changed after it was saved", pulumistack.ErrPlanRefused))
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != stackop.ErrTypePlanRefused {
		t.Errorf("%v, want a non-retryable %s error", err, stackop.ErrTypePlanRefused)
	}
}

// A preview whose attempt ended (its deadline on a loaded machine: the CLI
// is interrupted) is tried again, not reported as the engine's failure.
func TestPreviewInterruptedByTheEndOfItsAttemptIsTriedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	err := previewFailure(ctx, errors.New("preview of soak-drift: failed to run preview: signal: interrupt"))
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v, want a retryable error naming the deadline", err)
	}
}
