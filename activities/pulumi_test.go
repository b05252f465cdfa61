package activities

import (
	"errors"
	"fmt"
	"testing"

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
		if err := previewFailure(errors.New(msg)); !errors.As(err, &appErr) || appErr.NonRetryable() == retryable || appErr.Type() != stackop.ErrTypeEngineFailed {
			t.Errorf("%q: %v, want an %s error, retryable %v", msg, err, stackop.ErrTypeEngineFailed, retryable)
		}
	}
}

// A saved plan that cannot be filed (an earlier copy was changed) refuses
// the preview for good, as such.
func TestPreviewFailureRefusesAChangedPlan(t *testing.T) {
	var appErr *temporal.ApplicationError
	err := previewFailure(fmt.Errorf("%w: plans/ab.json was changed after it was saved", pulumistack.ErrPlanRefused))
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != stackop.ErrTypePlanRefused {
		t.Errorf("%v, want a non-retryable %s error", err, stackop.ErrTypePlanRefused)
	}
}
