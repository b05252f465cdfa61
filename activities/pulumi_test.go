package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// An apply is tried again only when every error it met is a request that
// never reached the API: anything else may have changed the infrastructure,
// or will fail the same way again.
func TestApplyFailureRetriesOnlyRequestsThatNeverReachedTheAPI(t *testing.T) {
	// What make soak saw: a remediation's up while the API server restarted.
	restarting, err := os.ReadFile("testdata/apply-api-unreachable.txt")
	if err != nil {
		t.Fatal(err)
	}
	refused := `  infraflow:kubernetes:Namespace (cfg):
    error: reading namespace cfg: Get "https://127.0.0.1:6443/api/v1/namespaces/cfg": dial tcp 127.0.0.1:6443: connect: connection refused`
	denied := `  infraflow:kubernetes:Deployment (web):
    error: creating deployment cfg/web: admission webhook denied the request: replicas must be at most 10`
	reset := `  infraflow:kubernetes:Deployment (web):
    error: creating deployment cfg/web: read tcp 127.0.0.1:5000->127.0.0.1:6443: read: connection reset by peer`
	cases := []struct {
		name, msg string
		retryable bool
	}{
		{"the API server restarting", string(restarting), true},
		{"one refused request", "up of cfg: failed to run update: exit status 1\nstdout: Diagnostics:\n" + refused + "\n  pulumi:pulumi:Stack (infraflow-local-cfg):\n    error: update failed", true},
		{"a refusal beside an answer", "stdout: Diagnostics:\n" + refused + "\n" + denied, false},
		{"a connection lost midway", "stdout: Diagnostics:\n" + reset, false},
		{"no error of a resource", "up of cfg: failed to run update: signal: killed", false},
	}
	for _, c := range cases {
		var appErr *temporal.ApplicationError
		err := applyFailure(context.Background(), errors.New(c.msg))
		if !errors.As(err, &appErr) || appErr.NonRetryable() == c.retryable || appErr.Type() != stackop.ErrTypeEngineFailed {
			t.Errorf("%s: %v, want an %s error, retryable %v", c.name, err, stackop.ErrTypeEngineFailed, c.retryable)
		}
	}
	var appErr *temporal.ApplicationError
	if err := applyFailure(context.Background(), fmt.Errorf("%w: the plan had 2 changes", pulumistack.ErrPlanViolated)); !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != stackop.ErrTypePlanStale {
		t.Errorf("a violated plan: %v, want a non-retryable %s error", err, stackop.ErrTypePlanStale)
	}
}
