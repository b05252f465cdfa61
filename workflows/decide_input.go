package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// inputDecidedOnce marks the runs whose input was validated and given its
// defaults once, by the decideInput local activity, with the result recorded
// in history (version 1). Earlier runs decoded and validated their input again
// on every replay; they keep doing so, as they began.
const inputDecidedOnce = "input-decided-once"

// defaulted is an input that fills in its defaults, so that the values a run
// uses are recorded with it rather than looked up again (in the stack catalog,
// say) by whichever release replays it.
type defaulted[I any] interface {
	withDefaults() I
}

// withDefaults returns in with its defaults filled in, if it has any.
func withDefaults[I Input](in I) I {
	if d, ok := any(in).(defaulted[I]); ok {
		return d.withDefaults()
	}
	return in
}

// decideOnce validates the input and resolves its defaults once. A later release
// may tighten a validation or change a default; a run already going keeps
// the input it was accepted with.
func decideOnce[I Input](ctx workflow.Context, workflowType string, raw converter.RawValue) (I, error) {
	var in I
	if workflow.GetVersion(ctx, inputDecidedOnce, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		in, err := decodeWorkflowInput[I](raw)
		if err != nil {
			return in, err
		}
		return withDefaults(in), nil
	}
	decided, err := executeDecideInput(ctx, workflowType, raw)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == ErrTypeInvalidInput {
			return in, temporal.NewNonRetryableApplicationError(appErr.Message(), ErrTypeInvalidInput, nil)
		}
		return in, err
	}
	// Leniently: the recorded input was checked when the run began, and a
	// later release may have dropped a field it had.
	if err := json.Unmarshal(decided, &in); err != nil {
		return in, fmt.Errorf("reading the decided input: %w", err)
	}
	return in, nil
}

// executeDecideInput runs decideInput. It is not generic: a function taken
// as a value inside a generic one is compiled as a wrapper named func1, and
// the local activity's recorded name must stay decideInput.
func executeDecideInput(ctx workflow.Context, workflowType string, raw converter.RawValue) (json.RawMessage, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		// Bad input stays bad; the retries are for a worker that dies meanwhile.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var decided json.RawMessage
	err := workflow.ExecuteLocalActivity(ctx, decideInput, workflowType, raw).Get(ctx, &decided)
	return decided, err
}

// decideInput is the local activity that decodes the input strictly,
// validates it and fills in its defaults; its result is the input every later
// step (and every replay) uses.
func decideInput(_ context.Context, workflowType string, raw converter.RawValue) (json.RawMessage, error) {
	if decide, ok := deciders[workflowType]; ok {
		return decide(raw)
	}
	return nil, temporal.NewNonRetryableApplicationError("no workflow type "+workflowType, ErrTypeInvalidInput, nil)
}

// deciders are the definitions' decide functions by workflow type (a map
// filled at init: the definitions refer to decideInput themselves).
var deciders = map[string]func(converter.RawValue) (json.RawMessage, error){}

func init() {
	for _, d := range definitions {
		deciders[d.Name] = d.decide
	}
}
