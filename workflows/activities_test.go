package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/internal/activityref"
)

// onActivity answers the activity ref with fn in env, for every argument. The
// activity must be registered (activities.Register); fn has its signature, as
// the compiler checks.
func onActivity[In, Out any](env *testsuite.TestWorkflowEnvironment, ref activityref.Activity[In, Out], fn func(context.Context, In) (Out, error)) {
	env.OnActivity(ref.Name(), mock.Anything, mock.Anything).Return(fn)
}

// onActivity2 is onActivity for an activity of two arguments.
func onActivity2[In1, In2, Out any](env *testsuite.TestWorkflowEnvironment, ref activityref.Activity2[In1, In2, Out], fn func(context.Context, In1, In2) (Out, error)) {
	env.OnActivity(ref.Name(), mock.Anything, mock.Anything, mock.Anything).Return(fn)
}

// onActivityNoResult is onActivity for an activity that returns only an error.
func onActivityNoResult[In any](env *testsuite.TestWorkflowEnvironment, ref activityref.NoResult[In], fn func(context.Context, In) error) {
	env.OnActivity(ref.Name(), mock.Anything, mock.Anything).Return(fn)
}

// query asks the workflow env ran (or runs) the query name, and decodes the
// answer.
func query[T any](t *testing.T, env *testsuite.TestWorkflowEnvironment, name string) T {
	t.Helper()
	var answer T
	v, err := env.QueryWorkflow(name)
	if err == nil {
		err = v.Get(&answer)
	}
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return answer
}
