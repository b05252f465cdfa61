package workflows

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/scaleop"
)

// A Pulumi stack setting is scaled by a ProvisionStack run of the stack's
// last applied configuration with that one setting changed, on the stack's
// lock ID, asking on the Schedule's behalf; what the run says is recorded.
func TestForecastScaleAppliesAStackSettingThroughProvisionStack(t *testing.T) {
	for _, outcome := range []string{ProvisionSucceeded, ProvisionRejected} {
		t.Run(outcome, func(t *testing.T) {
			env := newScaleEnv(t, 1, seasonalDemand)
			env.stackConfig = map[string]any{"namespace": "web", "image": "nginx:1.27", "replicas": 1.0, "hosts": 0.0}
			var asked []ProvisionInput
			var ids []string
			env.OnWorkflow("ProvisionStack", mock.Anything, mock.Anything).Return(func(ctx workflow.Context, raw converter.RawValue) (ProvisionResult, error) {
				var in ProvisionInput
				if err := converter.GetDefaultDataConverter().FromPayload(raw.Payload(), &in); err != nil {
					t.Fatal(err)
				}
				asked, ids = append(asked, in), append(ids, workflow.GetInfo(ctx).WorkflowExecution.ID)
				return ProvisionResult{Status: outcome, Reason: "reason of the run"}, nil
			})
			in := scaleInput("")
			in.Target = scaleop.ScaleTargetRef{Kind: scaleop.PulumiConfigKind, Program: "local", Stack: "web", Key: "replicas"}
			tick := runTick(t, env, in).Tick
			if len(asked) != 1 || ids[0] != ProvisionWorkflowID("local", "web") || tick.Provision != ids[0] {
				t.Fatalf("ProvisionStack runs %v %+v (tick names %q): want one, on the stack's lock ID", ids, asked, tick.Provision)
			}
			run := asked[0]
			if run.Config["replicas"] != float64(tick.Decision.Replicas) || run.Config["image"] != "nginx:1.27" || run.Config["namespace"] != "web" ||
				run.RequesterSignature == nil || run.RequesterSignature.System != "ForecastScale" {
				t.Errorf("ProvisionStack input %+v: want the applied configuration with replicas %d, asked by the ForecastScale system", run, tick.Decision.Replicas)
			}
			if tick.Target != "pulumi/local/web/replicas" || tick.Decision.Replicas == 1 {
				t.Fatalf("tick %+v: want a change decided for pulumi/local/web/replicas", tick)
			}
			switch outcome {
			case ProvisionSucceeded:
				if tick.Outcome != ScaleApplied || tick.Replicas != tick.Decision.Replicas {
					t.Errorf("outcome %s, replicas %d: want applied", tick.Outcome, tick.Replicas)
				}
			default:
				if tick.Outcome != ScaleRejected || tick.Replicas != 1 || !strings.Contains(tick.Reason, "reason of the run") {
					t.Errorf("outcome %s, replicas %d, reason %q: want rejected with the run's reason", tick.Outcome, tick.Replicas, tick.Reason)
				}
			}
		})
	}
}

func TestForecastScaleStackSettingMustBeAnIntegerSetting(t *testing.T) {
	in := scaleInput("")
	for target, field := range map[scaleop.ScaleTargetRef]string{
		{Kind: scaleop.PulumiConfigKind, Program: "terraform", Stack: "web", Key: "replicas"}:        "target.program",
		{Kind: scaleop.PulumiConfigKind, Program: "local", Stack: "Web!", Key: "replicas"}:           "target.stack",
		{Kind: scaleop.PulumiConfigKind, Program: "local", Stack: "web", Key: "image"}:               "target.key",
		{Kind: scaleop.PulumiConfigKind, Program: "local", Stack: "web", Key: "replicas", Name: "x"}: "target.name",
	} {
		in.Target = target
		err := in.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%+v: %v, want a problem with %s", target, err, field)
		}
	}
}
